// Package bench measures how fast two processes on this machine exchange
// messages over shared memory and over the kernel's pipes and sockets, side
// by side in one run: it is the runner of "shm bench". It is internal
// because its options, report fields and formatters follow the command's
// flags and tables; a program that wants the figures runs
// "shm bench --json".
//
// # Model
//
// A run is a list of cases: every combination of a workload (RTT, ping-pong
// round trips; Stream, one-way throughput, one message at a time; Batch,
// the same BatchLen messages at a time; Wake, on request, ping-pong with a
// pause of WakeGap before every round trip), a message size, a Transport
// and, for the transports with a ring, a ring capacity (see Capacities:
// by default a short sweep picks the fastest for raw per message size).
// Each case gets a fresh peer process: Run re-executes the program (by
// default os.Executable) with peerEnv describing the case, and that program
// must hand over to ServePeer when IsPeer reports true, before doing anything
// else, as cmd/shm's "shm bench peer" and this package's TestMain do:
//
//	func main() {
//		if bench.IsPeer() {
//			if err := bench.ServePeer(context.Background()); err != nil {
//				fmt.Fprintln(os.Stderr, err)
//				os.Exit(1)
//			}
//			os.Exit(0)
//		}
//		rep, err := bench.Run(ctx, bench.Duration(10*time.Second))
//		...
//		bench.WriteTable(os.Stdout, rep)
//	}
//
// The driver (the calling process) prepares the transport, starts the peer,
// and runs its half of the workload on a goroutine locked to an OS thread
// pinned to one CPU; the peer pins its thread to another CPU, on another
// core when there is one (see Placement). Round trips are timed one by one
// into a Histogram, from which the percentiles come; streams count the
// messages sent in the measuring time, until the peer acknowledges the
// last one.
//
// Wake measures what a round trip costs when the peer is idle: the pause
// outlasts the queue's brief spin, so a transport that sleeps when there is
// nothing to do is asleep when the message comes, and each timed round trip
// includes its wake-up (the pause itself is not timed). Its rows compare
// with Sem, a bare futex hand-off, instead of Unix. For every case the
// driver also reads the peer process's CPU-time clock (user and system, all
// threads) when the measured part starts and ends, after the peer's
// start-up and the warm-up: a busy-polling peer shows about 100% of a CPU,
// one that sleeps while idle, in the Wake workload, a few percent.
//
// The transports: CPingPong and CRing, the C limits, programs built with
// gcc at run time (testdata/pingpong.c, testdata/ring.c) that do what a
// transport does, copy every message in and out and busy-poll, without Go:
// each case runs as one such program, which forks its own peer, and every
// row's xC compares it with the C limit of its workload and size, the
// fastest of the C rows (without gcc their rows are Skipped, with the
// reason), and a round trip's xC P99.9 its tail with the least p99.9 of
// those rows. CRing's round trips go through a ring of the case's capacity
// each way, where CPingPong's use one slot each way: slower for small
// messages, which is what a ring costs in C, and faster for large ones.
// On amd64 a C case whose messages are larger than glibc's REP MOVSB
// threshold (2 KiB or more) runs its program twice, half its time each,
// copying messages with glibc's memcpy as glibc chooses (REP MOVSB above
// that threshold) and with glibc's vector loop at every size, and keeps the
// faster run, whose copy Result.Copy names: which is faster depends on
// the CPU, the message size and how far apart the two CPUs are, and a
// limit is C at its best.
// Raw, the same in Go with no queue code: two rings of slots in a shared
// segment with both sides busy-polling (see ring_linux.go for the
// layout); QueueSpin and Queue, a pair of queues from package queue with
// the Spin and the default (spin, then sleep) wait strategies; QueueNoGuard, Queue without the fault
// guard; QueueZeroCopy, Queue through Reserve/Commit (the message copied
// into the reservation with shm.Copy) and Peek/Release; Sem,
// slots handed over with process-shared semaphores from package sem; Pipe,
// two pipes; Unix, a Unix stream socket pair; TCP, a connection over
// 127.0.0.1 with Nagle's algorithm off. The kernel transports use blocking
// read and write calls straight from the pinned thread, as a C program
// would.
//
// Transports with several receivers: Topic, a lossless topic from package
// topic each way with one subscriber, the queue's counterpart;
// TopicFanOut2 and TopicFanOut4, one topic read by 2 and 4 subscriber
// processes, each answering through a topic of its own (a stream's rate is
// per subscriber, timed until the slowest has the last message; a round
// trip runs from the publish to the last subscriber's answer);
// QueueConsumers2, one queue created with queue.Consumers(2) that two
// consumer processes share, Stream only, its rate the two consumers'
// total (each acknowledges how many messages it took, and the counts must
// add up to every message sent). The first receiver is the case's peer and
// starts the others (this program again, unpinned). They wait the default
// way, spinning briefly and then sleeping on a futex: with more busy
// processes than CPUs, as with four subscribers on a machine of two, a
// process that spins holds a CPU that another needs, and sleeping is what
// lets them all run, so those rows measure that and no spin-only variant
// is offered.
//
// # Caveats
//
// Figures from a busy machine are noise: the busy-polling transports need
// both CPUs to themselves, and a peer that the scheduler takes off its CPU
// shows up as a long tail. Run on a quiet machine and compare ratios within
// one run, not figures across runs. On a VM whose host moves the vCPUs, the
// link between the two CPUs changes under a run; Run probes it around every
// case and, with Rounds, compares cases of one placement only (link.go).
//
// Objects in /dev/shm get names starting with "shm-bench-PID-". The peer
// removes them as soon as it has them open, and the driver again when the
// case ends, also when ctx is cancelled (Ctrl-C in the command). The peer is
// killed when the case fails or is cancelled, and by the kernel if the
// driver dies (PR_SET_PDEATHSIG).
//
// Every message carries a kind byte and a sequence number, which both sides
// check: a transport that loses, duplicates or reorders a message fails its
// case instead of reporting a figure.
package bench
