package inspect

import (
	"fmt"
	"strings"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/sem"
	"github.com/shmkit/shm/topic"
)

// State is an object's classification; see the package documentation.
type State string

const (
	InUse   State = "in-use"  // a process is attached, or a recorded participant lives
	Idle    State = "idle"    // nobody attached, nothing says it is dead
	Stale   State = "stale"   // nobody attached, every recorded participant died
	Unknown State = "unknown" // some processes could not be inspected, or a semaphore's waiters are unseen
)

// String returns the state as "shm ls" shows it.
func (s State) String() string { return string(s) }

// Kinds of object, as Object.Kind names them.
const (
	KindQueue     = "queue"
	KindTopic     = "topic"
	KindSemaphore = string(shm.KindSemaphore)
	KindData      = string(shm.KindData)
	KindOther     = string(shm.KindOther)
)

// Object is one object of a shared-memory directory, classified.
type Object struct {
	shm.Info
	// Kind is KindQueue, KindTopic, KindSemaphore, KindData or KindOther.
	Kind string
	// Attached lists the processes that map the object or hold a
	// descriptor to it. When AttachedKnown is false, others may be too.
	Attached      []shm.Process
	AttachedKnown bool
	// Uninspected is how many processes the scan could not inspect.
	Uninspected int
	// Blind says, when AttachedKnown is false, why: which processes could
	// not be inspected, or that /proc hides some.
	Blind  string
	State  State
	Reason string // why, in words: "consumer pid 812 and 1 producer died without closing"
	// Queue is a queue's header and ring, read without taking a role
	// (nil for other kinds, and for a queue too damaged to read).
	Queue *queue.Stats
	// Topic is a topic's header, subscriber table and ring, read without
	// taking a role (nil for other kinds, and for a topic too damaged to
	// read).
	Topic *topic.Stats
	// Semaphore is a semaphore's value and waiter count (nil for others).
	Semaphore *sem.State
	// Err is what went wrong reading the object's contents (a damaged
	// queue or topic, an unreadable semaphore); it is described in Reason
	// as well.
	Err error

	childPIDNamespace bool // the scan's, see shm.Attachments
}

// AttachedCount returns the number of attached processes, or -1 when the
// scan could not tell that none is (AttachedKnown false and none found).
func (o Object) AttachedCount() int {
	if len(o.Attached) == 0 && !o.AttachedKnown {
		return -1
	}
	return len(o.Attached)
}

// Undelivered returns the messages a queue holds that its consumer has not
// received, or the most messages a live subscriber of a topic has still to
// read (0 for other kinds). A topic without a live subscriber holds
// nothing undelivered: a message is owed only to the subscribers there
// when it was published (a later one starts after its join, or with the
// topic's history, a replay rather than a delivery).
//
// It returns -1 when the count is unknown: a queue that is damaged (see
// Damaged) or whose ring was not counted, or a damaged topic, whose
// subscriber table may not say who is owed what.
func (o Object) Undelivered() int {
	switch {
	case o.Damaged():
		return -1
	case o.Queue != nil && o.Queue.Messages < 0:
		return -1
	case o.Queue != nil:
		return o.Queue.Messages
	case o.Topic != nil:
		most := int64(0)
		for _, s := range o.Topic.Subscribers {
			if s.Alive {
				most = max(most, s.Lag)
			}
		}
		return int(most)
	}
	return 0
}

// Damaged reports whether o is a queue or a topic whose contents could not
// be read whole: its header, cursors, ring or table break the format (Err
// says where), so what it holds cannot be told.
func (o Object) Damaged() bool {
	return (o.Kind == KindQueue || o.Kind == KindTopic) && (o.Err != nil || o.Kind == KindQueue && o.Queue == nil || o.Kind == KindTopic && o.Topic == nil)
}

// Options selects the objects that List describes. The zero value (or
// nil) means every object in shm.DefaultDir.
type Options struct {
	Dir    string // the shared-memory directory; "" means shm.DefaultDir
	Prefix string // only names that start with it
	Kind   string // only this kind (KindQueue, KindTopic, KindSemaphore, KindData, KindOther); "" for all
}

func (o *Options) dir() string {
	if o == nil || o.Dir == "" {
		return shm.DefaultDir
	}
	return o.Dir
}

func (o *Options) match(name string) bool {
	return o == nil || strings.HasPrefix(name, o.Prefix)
}

// List describes and classifies the objects of the directory that match
// opts, sorted by name. It scans /proc once for all of them.
func List(opts *Options) ([]Object, error) {
	infos, err := shm.List(shm.Dir(opts.dir()))
	if err != nil {
		return nil, err
	}
	att, err := shm.ScanAttachments()
	if err != nil {
		return nil, &shm.Error{Op: "inspect", Name: opts.dir(), Err: err}
	}
	objs := make([]Object, 0, len(infos))
	for _, info := range infos {
		if !opts.match(info.Name) {
			continue
		}
		o := Classify(opts.dir(), info, att)
		if opts != nil && opts.Kind != "" && o.Kind != opts.Kind {
			continue
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// Stat describes and classifies the named object.
func Stat(name string, opts *Options) (Object, error) {
	info, err := shm.Stat(name, shm.Dir(opts.dir()))
	if err != nil {
		return Object{}, err
	}
	att, err := shm.ScanAttachments()
	if err != nil {
		return Object{}, &shm.Error{Op: "inspect", Name: name, Err: err}
	}
	return Classify(opts.dir(), info, att), nil
}

// Classify tells the kind of the object that info describes (in dir),
// reads what its kind records, and classifies it with the attachments of
// one scan. It opens the object only for reading, and only briefly.
func Classify(dir string, info shm.Info, att *shm.Attachments) Object {
	o := Object{Info: info, Kind: string(info.Kind)}
	o.Attached, o.AttachedKnown = att.Of(info)
	o.Uninspected = len(att.Uninspected)
	o.Blind = blindness(att)
	o.childPIDNamespace = att.ChildPIDNamespace
	switch {
	case info.Kind == shm.KindSemaphore:
		st, err := sem.Stat(strings.TrimPrefix(info.Name, shm.SemaphorePrefix), sem.Dir(dir))
		if err != nil {
			o.Err = err
		} else {
			o.Semaphore = &st
		}
	case info.Kind == shm.KindQueue:
		st, err := queue.Stat(info.Name, queue.Dir(dir))
		if err != nil {
			o.Err = err
		}
		if st.Capacity != 0 {
			o.Queue = &st
		}
	case info.Kind == shm.KindTopic:
		// topic.Stat describes a topic, damaged or not, with its
		// table's liveness.
		st, err := topic.Stat(info.Name, topic.Dir(dir))
		o.Err = err
		if st.Capacity != 0 {
			o.Topic = &st
		}
	}
	o.State, o.Reason = classify(&o)
	return o
}

// classify decides o's state from its attachments and its records.
func classify(o *Object) (State, string) {
	if n := len(o.Attached); n > 0 {
		return InUse, "attached: " + describeProcs(o.Attached)
	}
	live := ""
	switch {
	case o.Queue != nil:
		live = livePeers(o.Queue)
	case o.Topic != nil:
		live = liveTopicPeers(o.Topic)
	}
	if live != "" {
		return InUse, live + " (not visible in this /proc: another PID namespace?)"
	}
	if !o.AttachedKnown {
		return Unknown, "none attached among the processes inspected, but " + o.Blind
	}
	switch o.Kind {
	case KindQueue:
		if o.Queue == nil {
			return Idle, fmt.Sprintf("nobody attached; the queue cannot be read (%v), so nothing says its participants died", o.Err)
		}
		dead := deadPeers(o.Queue)
		if dead == "" {
			return Idle, "nobody attached; no participant recorded (all closed it)"
		}
		return Stale, "nobody attached; " + dead + " died without closing it"
	case KindTopic:
		if o.Topic == nil {
			return Idle, fmt.Sprintf("nobody attached; the topic cannot be read (%v), so nothing says its participants died", o.Err)
		}
		dead := deadTopicPeers(o.Topic)
		switch {
		case dead != "":
			return Stale, "nobody attached; " + dead + " died without closing it"
		case o.Topic.Closed:
			return Idle, "nobody attached; closed for publishing, no participant recorded (all closed it)"
		}
		return Idle, "nobody attached; no participant recorded (all closed or detached it)"
	case KindSemaphore:
		if o.Semaphore != nil && o.Semaphore.Waiters > 0 {
			// A waiter maps the semaphore, so none of this namespace
			// waits: the count is of waiters killed while waiting, or of
			// waiters in another PID namespace, which /proc does not
			// show. Nothing tells which.
			n := o.Semaphore.Waiters
			return Unknown, fmt.Sprintf("nobody attached that this /proc shows, but %d %s recorded: a waiter in another PID namespace is not seen here, and one killed while waiting stays counted", n, plural(n, "waiter", "waiters"))
		}
		return Idle, "nobody attached; a semaphore's value may be meant for the next run" + o.namespaceNote()
	case KindOther:
		return Idle, "not a regular file: not a shared-memory object"
	}
	return Idle, "nobody attached; a data segment may hold data for the next run" + o.namespaceNote()
}

// namespaceNote qualifies "nobody attached" for an object that keeps no
// record of its users (a data segment, a semaphore) when the scan ran in a
// child PID namespace, whose /proc does not show processes outside it.
func (o *Object) namespaceNote() string {
	if !o.childPIDNamespace {
		return ""
	}
	return " (as far as this PID namespace shows: a process outside it, sharing the directory, would not be seen)"
}

// blindness says why a scan is incomplete, or "" when it is not.
func blindness(att *shm.Attachments) string {
	switch n := len(att.Uninspected); {
	case n > 0:
		u := att.Uninspected[0]
		first := fmt.Sprintf("pid %d (%s, uid %d): %v", u.PID, shm.QuoteName(u.Command), u.UID, u.Err)
		if n == 1 {
			return "1 process could not be inspected (" + first + ")"
		}
		return fmt.Sprintf("%d processes could not be inspected (%s, ...)", n, first)
	case att.Hidden:
		return "/proc does not show every process"
	}
	return ""
}

// NoScan stands for a scan of /proc that could not be made (no /proc
// mounted, say): it finds nobody and is never complete, so objects are
// classified as if every process were hidden.
func NoScan() *shm.Attachments { return &shm.Attachments{Hidden: true} }

// describeProcs lists up to three processes: "pid 12 (worker), pid 13 (cat) and 2 more".
func describeProcs(ps []shm.Process) string {
	var parts []string
	for i, p := range ps {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more", len(ps)-3))
			break
		}
		how := "maps it"
		if !p.Maps() {
			how = "holds a descriptor"
		}
		parts = append(parts, fmt.Sprintf("pid %d (%s) %s", p.PID, shm.QuoteName(p.Command), how))
	}
	return strings.Join(parts, ", ")
}

// livePeers names a queue's live recorded participants, or "".
func livePeers(s *queue.Stats) string {
	var parts []string
	if s.Consumer != nil && s.Consumer.Alive {
		parts = append(parts, fmt.Sprintf("consumer pid %d lives", s.Consumer.PID))
	}
	for _, c := range s.Consumers {
		if c.Alive {
			parts = append(parts, fmt.Sprintf("consumer pid %d lives", c.PID))
		}
	}
	for _, p := range s.Producers {
		if p.Alive {
			parts = append(parts, fmt.Sprintf("producer pid %d lives", p.PID))
		}
	}
	return strings.Join(parts, ", ")
}

// deadPeers names a queue's recorded participants when all are dead, or
// "" when none is recorded.
func deadPeers(s *queue.Stats) string {
	var parts []string
	if s.Consumer != nil {
		parts = append(parts, fmt.Sprintf("consumer pid %d", s.Consumer.PID))
	}
	for _, c := range s.Consumers {
		if c.PID != 0 { // a slot given up, with a message left in flight
			parts = append(parts, fmt.Sprintf("consumer pid %d", c.PID))
		}
	}
	for _, p := range s.Producers {
		parts = append(parts, fmt.Sprintf("producer pid %d", p.PID))
	}
	return strings.Join(parts, " and ")
}

// liveTopicPeers names a topic's live recorded participants, or "".
func liveTopicPeers(s *topic.Stats) string {
	var parts, subs []string
	if s.Publisher != nil && s.Publisher.Alive {
		parts = append(parts, fmt.Sprintf("publisher pid %d lives", s.Publisher.PID))
	}
	for _, sub := range s.Subscribers {
		if sub.Alive {
			subs = append(subs, fmt.Sprint(sub.PID))
		}
	}
	switch len(subs) {
	case 0:
	case 1:
		parts = append(parts, "subscriber pid "+subs[0]+" lives")
	default:
		parts = append(parts, "subscriber pids "+firstFew(subs)+" live")
	}
	return strings.Join(parts, ", ")
}

// deadTopicPeers names a topic's recorded participants (the caller found
// none alive), or "" when none is recorded.
func deadTopicPeers(s *topic.Stats) string {
	var parts, subs []string
	if s.Publisher != nil {
		parts = append(parts, fmt.Sprintf("publisher pid %d", s.Publisher.PID))
	}
	for _, sub := range s.Subscribers {
		subs = append(subs, fmt.Sprint(sub.PID))
	}
	switch len(subs) {
	case 0:
	case 1:
		parts = append(parts, "subscriber pid "+subs[0])
	default:
		parts = append(parts, "subscriber pids "+firstFew(subs))
	}
	return strings.Join(parts, " and ")
}

// firstFew lists up to three items: "7, 8, 9 and 2 more"; a table may
// hold a thousand entries.
func firstFew(items []string) string {
	if len(items) <= 3 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:3], ", "), len(items)-3)
}
