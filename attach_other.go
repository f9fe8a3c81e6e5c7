//go:build !linux

package shm

// ScanAttachments is not supported on this system.
func ScanAttachments() (*Attachments, error) { return nil, unsupported("attachments", DefaultDir) }
