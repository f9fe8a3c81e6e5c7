package bench

// transports is the registry, in report order.
var transports = []Transport{
	rawTransport{},
	semTransport{},
	pipeTransport{},
	unixTransport{},
	tcpTransport{},
}
