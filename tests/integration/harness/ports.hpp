// Loopback ports chosen by the kernel, and waiting for a child process to start listening.
#pragma once

#include <cstdint>

#include "harness/deadline.hpp"
#include "harness/endpoint.hpp"

namespace vmlocal::itest {

class Process;

// Binds port 0 on the loopback address of `family`, reads the port and closes. Another process
// could take the port before ours binds it; servers that fail with "address in use" retry.
uint16_t free_port(Family family = Family::kV4);
// A port that is free on both 127.0.0.1 and ::1, for a program told to listen on both.
uint16_t free_dual_stack_port();

// Waits until `at` accepts a TCP connection (the probe connection is closed at once).
// Throws, with the process log in the message, if `process` exits first or the deadline passes.
// A probe cannot tell who accepted it: give each process a port of its own from free_port().
void wait_until_accepting(const Endpoint& at, Process& process, Deadline deadline);

}  // namespace vmlocal::itest
