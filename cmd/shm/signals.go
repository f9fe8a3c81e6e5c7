package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shmkit/shm"
)

// Interrupted commands.
//
// Every command that runs until it is stopped (queue recv --follow and -n,
// queue send, topic sub and pub, sem wait, demo, bench, top) or may run
// long (clean) is
// stopped the same way by the
// signals a terminal, a shell, kill, timeout, systemd or docker send:
// SIGINT, SIGTERM and SIGHUP. The command finishes what it must (a
// receiver writes out what it took off the queue, a sender marks its
// stream aborted, a waiter takes itself off the semaphore's waiter count,
// the demo and the benchmark remove their objects, top restores the
// terminal, clean finishes the object at hand), prints one line, and
// exits with interruptedStatus. A second signal while it does so kills it
// as the signal's default action would.

// stopSignals are the signals that interrupt a command.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// interruptedStatus is the exit status of an interrupted command (128 +
// SIGINT, what a shell reports for Ctrl-C), whichever signal stopped it.
const interruptedStatus = 130

// errInterrupted is the cause of a stop context that a signal ended.
type errInterrupted struct{ sig os.Signal }

func (e *errInterrupted) Error() string {
	return "interrupted by " + signalName(e.sig)
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// stopContext returns a context that ends when the process gets one of
// stopSignals, with an *errInterrupted naming it as the context's cause.
// After the first signal the process no longer catches them, so a second
// one kills it. stop releases the signals.
func stopContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, stopSignals...)
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			cancel(&errInterrupted{sig: sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(context.Canceled)
	}
}

// interruption returns the signal's error if ctx was ended by one, else
// nil.
func interruption(ctx context.Context) *errInterrupted {
	var e *errInterrupted
	if errors.As(context.Cause(ctx), &e) {
		return e
	}
	return nil
}

// interrupted is the error of a command that a signal stopped: one line,
// "OP NAME: interrupted by SIGTERM" and then detail, if any, and
// interruptedStatus.
func interrupted(ctx context.Context, op, name, detail string) error {
	msg := "interrupted"
	if e := interruption(ctx); e != nil {
		msg = e.Error()
	}
	if detail != "" {
		msg += " " + detail
	}
	return &exitError{code: interruptedStatus, err: &shm.Error{Op: op, Name: name, Err: errors.New(msg)}}
}

// interruptedf is interrupted with a formatted detail.
func interruptedf(ctx context.Context, op, name, format string, args ...any) error {
	return interrupted(ctx, op, name, fmt.Sprintf(format, args...))
}
