package handoff

import (
	"strconv"
	"strings"
)

// Names come from release images and the scripts run with AWS admin rights,
// so no value is ever written raw: every argument is single-quoted by Quote
// (newlines included), every value in a comment is Go-quoted by comment (no
// newline can end the comment), and documents go in files, not arguments.

const plainChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+"

// Quote quotes s as one word for a POSIX shell: single quotes, in which
// only the single quote itself needs care; a newline inside stays part of s.
func Quote(s string) string {
	if s != "" && strings.Trim(s, plainChars) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// comment renders s for a comment: as it is when it is plainly safe, else
// Go-quoted, which escapes newlines and control characters.
func comment(s string) string {
	if strings.Trim(s, plainChars) == "" {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// Command is args as one shell command line, each quoted.
func Command(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = Quote(a)
	}
	return strings.Join(out, " ")
}

// commandComment is a quoted command line for a comment: Go-quoted whole
// when a value holds a line break or control character, which would end
// the comment.
func commandComment(cmd string) string {
	if strings.IndexFunc(cmd, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return strconv.QuoteToASCII(cmd)
	}
	return cmd
}
