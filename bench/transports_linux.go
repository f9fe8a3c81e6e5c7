package bench

import "github.com/shmkit/shm/queue"

// transports is the registry, in report order.
var transports = []Transport{
	rawTransport{},
	queueTransport{name: QueueSpin, strategy: queue.Spin},
	queueTransport{name: Queue, strategy: queue.SpinThenSleep},
	semTransport{},
	pipeTransport{},
	unixTransport{},
	tcpTransport{},
}
