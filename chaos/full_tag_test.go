//go:build chaos

package chaos

// fullByTag: built with -tags chaos, the suite runs at full strength.
const fullByTag = true
