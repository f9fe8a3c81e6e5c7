package bench

import "github.com/shmkit/shm/queue"

// transports is the registry, in report order.
var transports = []Transport{
	cPingPong,
	cRing,
	rawTransport{},
	queueTransport{name: QueueSpin, strategy: queue.Spin},
	queueTransport{name: Queue, strategy: queue.SpinThenSleep},
	queueTransport{name: QueueNoGuard, strategy: queue.SpinThenSleep, noGuard: true},
	queueTransport{name: QueueZeroCopy, strategy: queue.SpinThenSleep, zeroCopy: true},
	topicTransport{name: Topic, subs: 1},
	topicTransport{name: TopicFanOut2, subs: 2},
	topicTransport{name: TopicFanOut4, subs: 4},
	consumersTransport{name: QueueConsumers2, n: 2},
	semTransport{},
	pipeTransport{},
	unixTransport{},
	tcpTransport{},
}
