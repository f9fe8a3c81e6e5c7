// Package natsbridge carries messages between the shared-memory queues of
// package queue (or the topics of package topic; see Topics) and NATS, so
// that what one host's processes exchange through a queue continues onto
// a NATS JetStream stream, and what a stream holds arrives in a local
// queue. It lives in a module of its own
// (github.com/shmkit/shm/bridge): programs that use shm, sem, lock or queue
// never download NATS.
//
// # Out: queue to stream, exactly once
//
// Out receives from a queue that holds what it receives (queue's Hold,
// Position and ReleaseThrough: reading ahead without consuming), and
// publishes each message asynchronously to a
// subject of a JetStream stream, at most Window publishes unacknowledged
// at a time. A message is released from the queue (ReleaseThrough) only
// after JetStream acknowledged it and every message before it, so a bridge
// that dies at any moment leaves every unacknowledged message in the
// queue, and the next bridge on that queue publishes it again. Each
// message carries the header
//
//	Nats-Msg-Id: <queue ID in hex>-<position>
//
// from the queue's random identity (queue.(*Queue).ID) and the message's
// position (queue.Position), which a consumer that resumes sees again for
// the same message. JetStream drops a message whose id it stored within
// the stream's duplicate window (Duplicates in the stream's configuration,
// two minutes by default), so a message published twice is stored once:
// exactly once in the stream, as long as a bridge restarts on the queue
// within the duplicate window. A queue removed and created again under
// the same name has a new identity, so its messages are never taken for
// the old queue's.
//
// On a failed publish (a broken connection, an acknowledgement that did
// not come within AckTimeout) Out stops publishing, lets go of the queue
// handle (releasing nothing more), waits with a growing backoff, and
// starts again from the released position: the messages go to the stream
// in the queue's order, and the ones the server had already stored are
// dropped as duplicates. Publishes are never buffered while the connection
// is down (nats.go's reconnect buffer is off on connections from Connect),
// which keeps the stream's order.
//
// Out ends with a nil error when the queue is closed for sending and every
// message is acknowledged, or when its context ends (after waiting, at
// most AckTimeout, for the publishes in flight).
//
// Without JetStream (Config.Core, for a subject no stream listens on) Out
// publishes plain NATS messages and releases them once the server has
// them (a flush): at most once to subscribers, as core NATS is.
//
// # In: stream to queue, at least once
//
// In reads a subject of a stream through a durable pull consumer (AckPolicy
// explicit, MaxAckPending Window; In owns it: it creates it, updates it,
// and creates it again as below) and sends each message into a queue; it
// acknowledges a message only after the queue's Send returned, so a
// message is in the queue before JetStream forgets it. A bridge that dies
// between the two sends the message again when it restarts: at least once
// into the queue.
//
// Order is kept, also across crashes. A bridge that starts and finds
// deliveries outstanding (delivered to a bridge that died, not all
// acknowledged) creates the durable consumer again, delivering from the
// first unacknowledged stream sequence: JetStream itself would deliver
// the outstanding messages only after AckWait, after newer ones. So does
// a bridge that sees a gap in the consumer's delivery sequence (deliveries
// lost on a broken connection). While it deletes and creates the durable,
// a consumer named after it with "-restart" records the sequence to start
// from, so that a bridge killed half-way is finished by the next one. A
// delivery at or below the last sequence sent is a redelivery: it is
// acknowledged and passed over.
//
// The duplicates after a crash are the messages the dead bridge sent to
// the queue whose acknowledgements JetStream did not get: at most the
// deliveries outstanding (above the consumer's acknowledgement floor) when
// the next bridge starts, which are at most Window (MaxAckPending) unless
// acknowledgements were lost on a broken connection, leaving acknowledged
// messages above the floor. Stats.Restarts counts the restarts of the
// consumer.
// One bridge at a time reads a durable consumer.
//
// With Config.Sequence each queue message is framed as the 8-byte
// little-endian stream sequence followed by the payload (see Frame and
// Unframe). Stream sequences only grow, so a queue consumer deduplicates
// by dropping a message whose sequence is not above the last one it
// processed. Without it the queue holds the payloads as they are.
//
// In ends with a nil error after Count messages (0: never) and when its
// context ends (a message it could not send yet, the queue being full,
// stays unacknowledged and comes again to the next bridge). A
// bridge that ends by Count closes the queue for sending, so that its
// consumer gets io.EOF after the last message; one that ends otherwise
// detaches and leaves the queue open for the next bridge.
//
// # Topics
//
// With Config.Topic the local object is a topic of package topic. In is
// then the topic's publisher (it fails with topic.ErrBusy while another
// live process is) and acknowledges a message after Publish returned: at
// least once into the topic, with the redeliveries described above; on a
// lossless topic a slow subscriber holds In back.
//
// Out is one subscriber of the topic. Each message carries
//
//	Nats-Msg-Id: <topic ID in hex>-<message number>
//
// from the topic's random identity (topic.(*Topic).ID) and the number the
// topic gives each message (topic.(*Topic).Sequence). The bridge keeps the
// bytes of the messages in flight (at most Window) until JetStream
// acknowledged them: a failed publish publishes them again, in order and
// with the same ids, after a growing backoff, while the bridge keeps its
// place in the topic (on a lossless topic it holds the publisher back).
//
// A subscriber's place does not outlive its process, so a bridge that
// starts reads the last message the stream holds on the subject. When its
// id is this topic's, the bridge resumes with the next number
// (topic.(*Topic).SubscribeFrom): nothing lost and, with the duplicate
// window dropping what a dead bridge's publishes in flight stored late,
// nothing duplicated, as long as the topic still holds that message. A
// live bridge holds a lossless topic's publisher back; a dead one does
// not (the topic drops a dead subscriber within about 100 ms), so messages
// published while no bridge runs stay only as long as the ring keeps
// them. When the next message is gone the bridge starts with the oldest
// the topic keeps and reports exactly how many it missed, and which
// numbers, in the log and Stats.Missed. An overwrite topic's publisher
// never waits for the bridge: a bridge that falls more than the ring
// behind reports the messages written over the same way. When the
// stream's last message on the subject is not one of this topic's (there
// is none yet, or the topic was created again and has a new identity) the
// bridge joins as any new subscriber does: with the next message
// published, or the topic's history. One bridge at a time publishes a
// topic to a subject, and nothing else publishes to that subject.
//
// Out ends when the topic's publisher closed it and every message was
// read and acknowledged. Without JetStream (Config.Core) it publishes
// plain NATS messages with a flush every Window messages: at most once.
//
// # Messages too large
//
// A message larger than the server's maximum payload (out) or the queue's
// maximum message (in, with the 8 bytes of the sequence frame) is an error
// wrapping ErrTooLarge that names the message, the size and the limit.
// With Oversize set to Stop (the default) the bridge ends with that error,
// the message unreleased (out) or unacknowledged (in): nothing is lost, and
// the operator decides. With Skip the bridge logs the error, counts the
// message in Stats.Skipped, releases (out) or acknowledges (in) it, and
// goes on.
//
// # Reconnecting and flow control
//
// Connect retries a lost server for ever, with a delay that doubles from
// 100 ms to 5 s, and logs each disconnection and reconnection. Out never
// has more than Window publishes in flight and reads no further ahead; a
// full queue holds In in Send, which stops it fetching; In fetches at
// most Window messages at a time. Nothing is buffered without a bound.
package natsbridge
