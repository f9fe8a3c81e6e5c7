// Package interop proves the queue's other implementations against the Go
// one: the C library in c/ (libshmq, written from docs/PROTOCOL.md) and the
// Python package in python/shmkit, which runs on it. The package has no
// code of its own; its tests build the C code with gcc, run python3, and
// pass messages, kills and damage between the three.
package interop
