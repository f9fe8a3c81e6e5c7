package queue

// FollowProducers makes the handle, as a consumer, follow one producer
// after another: when the queue is drained and its last producer has
// closed it, Receive, Peek and ReceiveBatch keep waiting (as long as their
// context allows) for the next producer to open the queue and send,
// instead of returning io.EOF, and TryReceive returns ErrEmpty. A producer
// that dies without closing is waited out the same way, instead of
// ErrPeerDead: what it committed is delivered, and the next producer
// continues the stream. Stat tells whether any producer lives meanwhile.
// It is for long-lived consumers, such as a log collector, fed by
// producers that come and go.
func FollowProducers() Option { return func(c *config) { c.follow = true } }
