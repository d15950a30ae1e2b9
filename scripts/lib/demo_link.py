#!/usr/bin/env python3
"""Prints the vmess:// link (v2rayN's form: base64 of a JSON object) of the server a profile
names, for scripts/demo. Reads only the flat [server] keys the demo profile uses.

    scripts/lib/demo_link.py conf/demo.toml
"""
import base64
import json
import sys
import tomllib


def main():
    with open(sys.argv[1], "rb") as f:
        server = tomllib.load(f)["server"]
    fields = {"v": "2", "ps": "vmess-local demo", "add": server["address"],
              "port": str(server["port"]), "id": server["uuid"],
              "aid": str(server.get("alter_id", 0)), "scy": server.get("security", "auto"),
              "net": server.get("transport", "tcp"), "type": "none", "host": "", "path": "",
              "tls": "tls" if "tls" in server else ""}
    print("vmess://" + base64.b64encode(json.dumps(fields).encode()).decode())


if __name__ == "__main__":
    main()
