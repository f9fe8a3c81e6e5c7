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
	semTransport{},
	pipeTransport{},
	unixTransport{},
	tcpTransport{},
}
