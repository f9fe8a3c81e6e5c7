package bench

import (
	"os"
)

// IsPeer reports whether this process was started by Run as the peer of a
// case, and should call ServePeer instead of doing its usual work.
func IsPeer() bool { return os.Getenv(peerEnv) != "" }
