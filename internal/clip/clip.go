// Package clip shortens text that goes into messages and errors: hostile or
// pasted input quoted in an error, a reply cut to a size limit. It is the
// one place that decides how a cut is made and marked.
package clip

import "unicode/utf8"

// Mark ends clipped text.
const Mark = "…"

// To returns s when it has at most n bytes, else its longest prefix that
// fits in n bytes together with Mark, cut on a rune boundary so that valid
// UTF-8 stays valid, followed by Mark. For n smaller than Mark it is Mark.
func To(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len(Mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Mark
}
