package cli

import "strings"

// Suggest returns the known name closest to name, or "" when none is close
// enough to be what was meant. Hyphens and underscores count as the same
// (a YAML key typed as a flag, or the other way round).
func Suggest(name string, known []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	n := norm(name)
	best, bestD := "", 0
	for _, k := range known {
		d := distance(n, norm(k))
		if d == 0 {
			return k
		}
		if best == "" || d < bestD {
			best, bestD = k, d
		}
	}
	// One edit in a short name, up to a third of a long one: close enough
	// to be a typo rather than another word.
	if best == "" || bestD > max(1, len([]rune(n))/3) {
		// A prefix of exactly one name is what was meant too ("--max-conn").
		var only string
		for _, k := range known {
			if strings.HasPrefix(norm(k), n) && len(n) >= 3 {
				if only != "" {
					return ""
				}
				only = k
			}
		}
		return only
	}
	return best
}

// distance is the Levenshtein distance between a and b, with a swap of
// two neighbours counting as one edit (optimal string alignment).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
