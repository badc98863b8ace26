package manifest

import (
	"fmt"
	"strings"
)

// maxDiffLines bounds the texts Diff compares line by line; longer ones
// are shown whole, removed then added.
const maxDiffLines = 4000

// Diff returns a unified diff ("--- from", "+++ to", @@ hunks with three
// lines of context) turning a into b, or "" when they are equal.
func Diff(fromName, toName, a, b string) string {
	if a == b {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	ops := editScript(x, y)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromName, toName)
	const ctx = 3
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// A hunk: from ctx lines before this change to ctx lines after
		// the last change closer than 2*ctx to the one before.
		start := max(0, i-ctx)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j
			} else if j-end > 2*ctx {
				break
			}
		}
		end = min(len(ops), end+ctx+1)
		ax, bx, an, bn := 0, 0, 0, 0
		for _, o := range ops[:start] {
			if o.kind != '+' {
				ax++
			}
			if o.kind != '-' {
				bx++
			}
		}
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				an++
			}
			if o.kind != '-' {
				bn++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(ax, an), hunkRange(bx, bn))
		for _, o := range ops[start:end] {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

type edit struct {
	kind byte // ' ', '-' or '+'
	text string
}

// editScript is the shortest edit turning x into y by the longest common
// subsequence (objects are small, so the quadratic table is fine).
func editScript(x, y []string) []edit {
	if len(x) > maxDiffLines || len(y) > maxDiffLines {
		var out []edit
		for _, l := range x {
			out = append(out, edit{'-', l})
		}
		for _, l := range y {
			out = append(out, edit{'+', l})
		}
		return out
	}
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []edit
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, edit{' ', x[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, edit{'-', x[i]})
			i++
		default:
			out = append(out, edit{'+', y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, edit{'-', x[i]})
	}
	for ; j < m; j++ {
		out = append(out, edit{'+', y[j]})
	}
	return out
}
