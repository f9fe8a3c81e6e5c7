package bench

// transports is the registry, in report order.
var transports = []Transport{
	rawTransport{},
	pipeTransport{},
	unixTransport{},
	tcpTransport{},
}
