// Package textdist measures how far apart two short strings are, so that
// error messages can suggest the name the user probably meant.
package textdist

import "strings"

// Distance is the Levenshtein edit distance between a and b, in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Closest returns the candidate equal to s ignoring case, or else the one
// nearest to it (ignoring case) within maxDist edits; "" when none is close.
func Closest(s string, candidates []string, maxDist int) string {
	best, bestD := "", maxDist+1
	low := strings.ToLower(s)
	for _, c := range candidates {
		if strings.EqualFold(c, s) {
			return c
		}
		if d := Distance(low, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
