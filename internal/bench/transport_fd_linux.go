package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The kernel transports (pipe, Unix socket, TCP) are set up entirely in the
// driver, which hands the peer its ends as inherited descriptors: no name
// is created anywhere. Both sides then use blocking read and write system
// calls straight from the pinned thread, as a C program would, so that a
// wake-up goes from the kernel to that thread without a detour through Go's
// network poller.

type pipeTransport struct{}

func (pipeTransport) Name() string     { return Pipe }
func (pipeTransport) Describe() string { return "two pipes, one per direction" }

func (pipeTransport) Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error) {
	var down, up [2]int // [read, write]
	if err := unix.Pipe2(down[:], unix.O_CLOEXEC); err != nil {
		return nil, PeerInfo{}, fmt.Errorf("pipe: %w", err)
	}
	if err := unix.Pipe2(up[:], unix.O_CLOEXEC); err != nil {
		unix.Close(down[0])
		unix.Close(down[1])
		return nil, PeerInfo{}, fmt.Errorf("pipe: %w", err)
	}
	conn := &fdConn{wfd: down[1], rfd: up[0]}
	return conn, PeerInfo{Files: []*os.File{os.NewFile(uintptr(down[0]), "pipe-down-r"), os.NewFile(uintptr(up[1]), "pipe-up-w")}}, nil
}

func (pipeTransport) Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error) {
	if len(p.Files) != 2 {
		return nil, fmt.Errorf("pipe: the peer got %d descriptors, want 2", len(p.Files))
	}
	return &fdConn{rfd: int(p.Files[0].Fd()), wfd: int(p.Files[1].Fd()), files: p.Files}, nil
}

type unixTransport struct{}

func (unixTransport) Name() string     { return Unix }
func (unixTransport) Describe() string { return "a connected pair of Unix stream sockets" }

func (unixTransport) Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, PeerInfo{}, fmt.Errorf("socketpair: %w", err)
	}
	return &fdConn{rfd: fds[0], wfd: fds[0]}, PeerInfo{Files: []*os.File{os.NewFile(uintptr(fds[1]), "unix")}}, nil
}

func (unixTransport) Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error) {
	return attachSocket(Unix, p)
}

type tcpTransport struct{}

func (tcpTransport) Name() string     { return TCP }
func (tcpTransport) Describe() string { return "a TCP connection over 127.0.0.1, Nagle off" }

// Prepare listens on an ephemeral port of 127.0.0.1, connects to it and
// accepts, then closes the listener: the driver keeps the connecting end and
// the peer gets the accepted one.
func (tcpTransport) Prepare(ctx context.Context, c Case) (conn Conn, p PeerInfo, err error) {
	var fds []int
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			err = fmt.Errorf("tcp 127.0.0.1: %w", err)
		}
	}()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, p, err
	}
	defer unix.Close(ln)
	loopback := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(ln, loopback); err != nil {
		return nil, p, err
	}
	if err := unix.Listen(ln, 1); err != nil {
		return nil, p, err
	}
	addr, err := unix.Getsockname(ln)
	if err != nil {
		return nil, p, err
	}
	dial, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, p, err
	}
	fds = append(fds, dial)
	if err := unix.Connect(dial, addr); err != nil {
		return nil, p, err
	}
	acc, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, p, err
	}
	fds = append(fds, acc)
	for _, fd := range fds {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return nil, p, err
		}
	}
	return &fdConn{rfd: dial, wfd: dial}, PeerInfo{Files: []*os.File{os.NewFile(uintptr(acc), "tcp")}}, nil
}

func (tcpTransport) Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error) {
	return attachSocket(TCP, p)
}

func attachSocket(name string, p PeerInfo) (Conn, error) {
	if len(p.Files) != 1 {
		return nil, fmt.Errorf("%s: the peer got %d descriptors, want 1", name, len(p.Files))
	}
	fd := int(p.Files[0].Fd())
	return &fdConn{rfd: fd, wfd: fd, files: p.Files}, nil
}

// fdConn moves messages with blocking read and write calls. In the batch
// workload, a batch is one write of the messages laid end to end, and a
// receiver reads whatever is there, up to a batch, in one read (more only
// to complete a message).
type fdConn struct {
	rfd, wfd int
	files    []*os.File // the peer's inherited files, which own rfd and wfd
	scratch  []byte
}

func (f *fdConn) SendBatch(ctx context.Context, msgs [][]byte) error {
	b := f.scratch[:0]
	for _, m := range msgs {
		b = append(b, m...)
	}
	f.scratch = b
	return f.Send(ctx, b)
}

func (f *fdConn) ReceiveBatch(ctx context.Context, bufs [][]byte) (int, error) {
	size := len(bufs[0])
	if cap(f.scratch) < len(bufs)*size {
		f.scratch = make([]byte, len(bufs)*size)
	}
	b := f.scratch[:len(bufs)*size]
	got := 0
	for got == 0 || got%size != 0 {
		n, err := unix.Read(f.rfd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return 0, fmt.Errorf("read: %w", io.ErrUnexpectedEOF)
		}
		got += n
	}
	n := got / size
	for i := range n {
		copy(bufs[i], b[i*size:])
	}
	return n, nil
}

func (f *fdConn) Send(_ context.Context, msg []byte) error {
	for len(msg) > 0 {
		n, err := unix.Write(f.wfd, msg)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		msg = msg[n:]
	}
	return nil
}

func (f *fdConn) Receive(_ context.Context, buf []byte) error {
	for len(buf) > 0 {
		n, err := unix.Read(f.rfd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("read: %w", io.ErrUnexpectedEOF)
		}
		buf = buf[n:]
	}
	return nil
}

func (f *fdConn) Close() error {
	if f.files != nil {
		var errs []error
		for _, file := range f.files {
			errs = append(errs, file.Close())
		}
		return errors.Join(errs...)
	}
	err := unix.Close(f.rfd)
	if f.wfd != f.rfd {
		err = errors.Join(err, unix.Close(f.wfd))
	}
	return err
}
