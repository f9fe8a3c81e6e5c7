package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shmkit/shm/topic"
)

// Names of the transports with several receiving processes.
const (
	// Topic is a topic with one subscriber each way: the queue's figures'
	// counterpart for publish-subscribe.
	Topic = "topic"
	// TopicFanOut2 and TopicFanOut4 publish every message to 2 and 4
	// subscriber processes.
	TopicFanOut2 = "topic-fanout-2"
	TopicFanOut4 = "topic-fanout-4"
	// QueueConsumers2 shares a queue's messages between 2 consumer
	// processes (queue.Consumers).
	QueueConsumers2 = "queue-consumers-2"
)

// topicTransport moves the driver's messages through one lossless topic
// that subs subscriber processes read (the first is the run's peer, the
// others it starts; see extraPeers), and each subscriber's answers through
// a topic of its own that the driver subscribes to. A round trip is timed
// until every subscriber's answer is in: publish, all receive, all answer.
// A stream's rate is per subscriber (each receives every message), timed
// until the slowest has received the last. Both sides wait the default
// way, spinning for topic.DefaultSpin and then sleeping on a futex: with
// more busy processes than CPUs, sleeping is what lets them all run.
type topicTransport struct {
	name string
	subs int
}

func (t topicTransport) Name() string { return t.name }

func (t topicTransport) Describe() string {
	if t.subs == 1 {
		return "a topic each way, one subscriber, default waiting (spin briefly, then sleep on a futex)"
	}
	return fmt.Sprintf("a topic to %d subscriber processes (rate per subscriber; a round trip ends with the last answer), an answer topic from each, default waiting", t.subs)
}

// capacityFor is the capacity of each topic: the smallest power of two at
// least capacity whose largest message holds size bytes.
func (topicTransport) capacityFor(size int, capacity int64) int64 {
	c := int64(topic.MinCapacity)
	for c < capacity || c/2-32 < int64(size) {
		c *= 2
	}
	return min(c, int64(topic.MaxCapacity))
}

// opts are every handle's options. The start grace is off: a subscriber
// answers the first message before the publisher sends a second, so no
// subscriber can be late for message 0, and a grace would only stall the
// first lap of the ring.
func (topicTransport) opts(c Case) []topic.Option {
	return []topic.Option{topic.Dir(shmDir(c.Dir)), topic.StartGrace(0)}
}

func (t topicTransport) Prepare(ctx context.Context, c Case) (_ Conn, _ PeerInfo, err error) {
	capacity := t.capacityFor(c.Size, c.Capacity)
	create := append(t.opts(c), topic.MaxMessage(c.Size), topic.Subscribers(t.subs))
	conn := &topicConn{dir: c.Dir}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	names := []string{c.Name + "-down"}
	for k := range t.subs {
		names = append(names, c.Name+"-up-"+strconv.Itoa(k))
	}
	for i, n := range names {
		tp, err := topic.Create(n, capacity, create...)
		if err != nil {
			return nil, PeerInfo{}, err
		}
		conn.unlink = append(conn.unlink, n)
		if i == 0 {
			conn.out = tp
			continue
		}
		// Subscribed before the peer starts: every answer reaches it.
		if err := tp.Subscribe(); err != nil {
			tp.Close()
			return nil, PeerInfo{}, err
		}
		conn.ins = append(conn.ins, tp)
	}
	return conn, PeerInfo{Arg: peerArg(c.Name, 0)}, nil
}

func (t topicTransport) Attach(ctx context.Context, c Case, p PeerInfo) (_ Conn, err error) {
	base, k, err := parsePeerArg(p.Arg, t.subs)
	if err != nil {
		return nil, err
	}
	conn := &topicConn{}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	down, err := topic.Open(base+"-down", t.opts(c)...)
	if err != nil {
		return nil, err
	}
	conn.ins = []*topic.Topic{down}
	if err := down.Subscribe(); err != nil {
		return nil, err
	}
	if conn.out, err = topic.Open(base+"-up-"+strconv.Itoa(k), t.opts(c)...); err != nil {
		return nil, err
	}
	if k == 0 && t.subs > 1 {
		// The driver removes the names when the case ends: the other
		// subscribers have yet to open them.
		conn.extra, err = startExtraPeers(t.subs, func(k int) string { return peerArg(base, k) })
	}
	return conn, err
}

// peerArg names subscriber k of a case to its process.
func peerArg(name string, k int) string { return name + "#" + strconv.Itoa(k) }

// parsePeerArg reads peerArg's name and number, which must be below n.
func parsePeerArg(arg string, n int) (string, int, error) {
	i := strings.LastIndexByte(arg, '#')
	k, err := strconv.Atoi(arg[i+1:])
	if i < 0 || err != nil || k < 0 || k >= n {
		return "", 0, fmt.Errorf("peer argument %q is not NAME#K with K below %d", arg, n)
	}
	return arg[:i], k, nil
}

// topicConn publishes on out and receives from every topic of ins: the
// driver's end has an answer topic per subscriber, a subscriber's end the
// driver's topic.
type topicConn struct {
	out    *topic.Topic
	ins    []*topic.Topic
	batch  [][]byte
	extra  *extraPeers // a first subscriber's: the others' processes
	unlink []string    // the driver's end removes the names when it closes
	dir    string
}

func (c *topicConn) Send(ctx context.Context, msg []byte) error { return c.out.Publish(ctx, msg) }

// Receive takes the next message from each topic of ins, which must all
// carry the same header, and leaves the last in buf.
func (c *topicConn) Receive(ctx context.Context, buf []byte) error {
	var kind byte
	var seq uint64
	for i, in := range c.ins {
		got, err := in.Receive(ctx, buf[:0])
		if err != nil {
			return err
		}
		if len(got) != len(buf) {
			return fmt.Errorf("received %d bytes from %s, want %d", len(got), in.Name(), len(buf))
		}
		k, s := header(buf)
		if i > 0 && (k != kind || s != seq) {
			return fmt.Errorf("subscriber %d answered kind %d seq %d, subscriber 0 kind %d seq %d", i, k, s, kind, seq)
		}
		kind, seq = k, s
	}
	return nil
}

// SendData and ReceiveData are dataStreamer's loops around Send and Receive.
func (c *topicConn) SendData(ctx context.Context, msg []byte, seq uint64, n int) error {
	for i := range uint64(n) {
		setHeader(msg, msgData, seq+i)
		if err := c.Send(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

func (c *topicConn) ReceiveData(ctx context.Context, buf []byte, seq uint64) (uint64, error) {
	for {
		if err := c.Receive(ctx, buf); err != nil || !isData(buf, seq) {
			return seq, err
		}
		seq++
	}
}

// SendBatch publishes msgs with one PublishBatch.
func (c *topicConn) SendBatch(ctx context.Context, msgs [][]byte) error {
	return c.out.PublishBatch(ctx, msgs)
}

// ReceiveBatch takes what is ready with one ReceiveBatch when there is one
// topic to read, and one message at a time from several.
func (c *topicConn) ReceiveBatch(ctx context.Context, bufs [][]byte) (int, error) {
	if len(c.ins) != 1 {
		return 1, c.Receive(ctx, bufs[0])
	}
	if len(c.batch) < len(bufs) {
		c.batch = make([][]byte, len(bufs))
	}
	b := c.batch[:len(bufs)]
	for i := range b {
		b[i] = bufs[i][:0]
	}
	n, err := c.ins[0].ReceiveBatch(ctx, b)
	for i := range n {
		if len(b[i]) != len(bufs[i]) {
			return i, fmt.Errorf("received %d bytes, want %d", len(b[i]), len(bufs[i]))
		}
	}
	return n, err
}

func (c *topicConn) Close() error {
	var err error
	if c.extra != nil {
		err = c.extra.wait()
	}
	if c.out != nil {
		err = errors.Join(err, c.out.Close())
	}
	for _, in := range c.ins {
		err = errors.Join(err, in.Close())
	}
	for _, n := range c.unlink {
		err = errors.Join(err, unlinkIfExists(n, c.dir))
	}
	return err
}
