// Package chaos holds no code of its own: its tests are the shm project's
// reliability and security proof. They start real processes (the test binary
// re-executed in a child role), kill them with SIGKILL at random points,
// starve them of space on a tiny tmpfs, truncate and rewrite their segments,
// scribble on their queues, semaphores and mutexes, and run them as another
// user, and after every trial they check an invariant: nothing committed is
// lost or duplicated, no message is torn, no waiter hangs more than a second
// after its peer died, counters are exact, and the victim returns errors
// instead of crashing.
//
// # Strength
//
// By default every test runs a bounded number of trials, so that
// "go test ./..." stays quick (about 30 s for this package, 40 s under
// -race); under -short, a smoke run, each runs a tenth of its trials (at
// least one) for a quarter of its time. At full strength (hundreds of
// trials per primitive, ten million messages through a queue) the suite
// takes about six minutes on two cores:
//
//	SHM_CHAOS=full go test -v -timeout 15m ./chaos/
//	go test -tags chaos -v -timeout 15m ./chaos/   # the same, chosen at build time
//
// Every test logs its trial counts and outcomes with t.Logf, so the figures in
// docs/RELIABILITY.md can be read off "go test -v".
//
// Tests that need root (a tmpfs mount, a child running as uid 65534) skip
// with a message when not run as root.
package chaos
