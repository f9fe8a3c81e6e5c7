//go:build !chaos

package chaos

// fullByTag: without the chaos tag, SHM_CHAOS=full still selects full strength.
const fullByTag = false
