package queue

// DefaultCapacity is the ring size that Create gives a queue for capacity
// 0 without MaxMessage, and the least that RecommendedCapacity returns. It
// is what the "shm queue create" command uses unless told otherwise; see
// the package doc ("Sizing the ring") for why it is that large.
const DefaultCapacity = 4 << 20

// recommendedMessages is how many of its largest messages a recommended
// ring holds at least.
const recommendedMessages = 16

// RecommendedCapacity returns the ring size for a queue whose largest
// message is maxMessage bytes: the smallest power of two that is at least
// DefaultCapacity and holds at least 16 such messages with their record
// headers, at most MaxCapacity. Create with capacity 0 uses it.
func RecommendedCapacity(maxMessage int) int64 {
	c := int64(DefaultCapacity)
	if maxMessage <= 0 {
		return c
	}
	need := recommendedMessages * (int64(maxMessage) + recordHeader)
	for c < need && c < MaxCapacity {
		c *= 2
	}
	return c
}
