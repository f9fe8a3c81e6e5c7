package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// choosePlacement picks two CPUs this process may use, on different cores
// when it can. want, if both are >= 0, is the caller's choice, checked
// against the allowed set.
func choosePlacement(want [2]int) (Placement, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return Placement{Driver: -1, Peer: -1, Available: runtime.NumCPU()}, nil
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	p := Placement{Driver: -1, Peer: -1, Available: len(cpus)}
	if want[0] >= 0 || want[1] >= 0 {
		if want[0] < 0 || want[1] < 0 || want[0] == want[1] {
			return p, fmt.Errorf("need two different CPUs, got %d and %d", want[0], want[1])
		}
		for _, c := range want {
			if c >= len(set)*64 || !set.IsSet(c) {
				return p, fmt.Errorf("CPU %d is not available to this process (allowed: %s)", c, cpuList(cpus))
			}
		}
		p.Driver, p.Peer = want[0], want[1]
		p.SameCore = coreOf(p.Driver) == coreOf(p.Peer) && coreOf(p.Driver) != ""
		return p, nil
	}
	if len(cpus) < 2 {
		return p, nil
	}
	p.Driver, p.Peer = cpus[0], cpus[1]
	p.SameCore = coreOf(p.Driver) == coreOf(p.Peer) && coreOf(p.Driver) != ""
	for _, c := range cpus[1:] {
		if core := coreOf(c); core != "" && core != coreOf(p.Driver) {
			p.Peer, p.SameCore = c, false
			break
		}
	}
	return p, nil
}

// coreOf names the physical core of a CPU ("package/core"), or "" when
// sysfs does not say.
func coreOf(cpu int) string {
	dir := "/sys/devices/system/cpu/cpu" + strconv.Itoa(cpu) + "/topology/"
	pkg, err1 := os.ReadFile(dir + "physical_package_id")
	core, err2 := os.ReadFile(dir + "core_id")
	if err1 != nil || err2 != nil {
		return ""
	}
	return strings.TrimSpace(string(pkg)) + "/" + strings.TrimSpace(string(core))
}

func cpuList(cpus []int) string {
	var s []string
	for _, c := range cpus {
		s = append(s, strconv.Itoa(c))
	}
	return strings.Join(s, ",")
}

// pinThread locks the calling goroutine to its thread and pins the thread to
// cpu (nothing when cpu < 0). The caller must not unlock: when the goroutine
// ends, the runtime destroys the pinned thread instead of reusing it.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	if cpu < 0 {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin thread to CPU %d: %w", cpu, err)
	}
	return nil
}
