package queue

import (
	"context"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

func TestSmoke(t *testing.T) {
	name := shmtest.Name(t, "")
	p, err := Create(name, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var buf []byte
	for i := range 1000 {
		msg := make([]byte, i%50)
		for j := range msg {
			msg[j] = byte(i + j)
		}
		if err := p.Send(ctx, msg); err != nil {
			t.Fatal(i, err)
		}
		buf, err = c.Receive(ctx, buf)
		if err != nil {
			t.Fatal(i, err)
		}
		if string(buf) != string(msg) {
			t.Fatalf("%d: got %v want %v", i, buf, msg)
		}
	}
}
