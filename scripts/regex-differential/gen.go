// Generates random regular expressions and inputs with Go's verdicts, for main.swift to compare with
// GoRegex. Usage: go run gen.go -n 20000 -seed 1 > cases.txt
//
// Output, one record a line, fields separated by spaces, text in hex (patterns and inputs may hold any byte):
//
//	P <pattern> ok <NumSubexp> <names, comma-separated hex, "-" for none>
//	P <pattern> err <code, hex>
//	I <input> <whole 0|1> <FindSubmatchIndex, comma-separated, or "nil">
package main

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	rng              *rand.Rand
	inputsPerPattern = flag.Int("inputs", 10, "random inputs per valid pattern (plus the empty one)")
)

func pick(items ...string) string { return items[rng.Intn(len(items))] }

var literals = []string{
	"a", "b", "c", "x", "y", "z", "A", "B", "K", "k", "s", "S", "0", "1", "9", "_", " ", "-", ",", "]", "}",
	"é", "É", "ß", "ẞ", "ſ", "\u212a", "\u2126", "ω", "Ω", "σ", "Σ", "ς", "α", "☺", "日", "\u0085", "\u2028",
	"\n", "\r", "\t", "\ufffd", "İ", "ı", "ǅ", "Ǆ", "ǆ", "µ", "Μ", "μ", "𝔸", "\U0001e900",
}

var escapes = []string{
	`\x41`, `\x61`, `\x{263a}`, `\x{212A}`, `\x{10FFFF}`, `\x{110000}`, `\x{}`, `\x4`, `\xZ1`, `\x{41`, `\x{0041}`,
	`\x{00000041}`, `\x{FFFD}`, `\x{D800}`, `\xff`, `\xFf`, `\101`, `\0`, `\01`, `\08`, `\1`, `\8`, `\377`, `\400`, `\7`, `\17`,
	`\a`, `\f`, `\t`, `\n`, `\r`, `\v`, `\e`, `\.`, `\*`, `\+`, `\?`, `\(`, `\)`, `\[`, `\]`, `\{`, `\}`, `\|`,
	`\\`, `\^`, `\$`, `\-`, `\/`, `\ `, `\#`, `\<`, `\_`, `\~`, `\é`, `\Z`, `\C`, `\G`, `\X`, `\R`, `\h`, `\K`,
	`\Qa.b\E`, `\Q*\E`, `\Q\E`, `\Qab`, `\Q\\E`, `\Qa\`, `\Q]\E`, `\pL`, `\p{Lu}`, `\p{Ll}`, `\p{Lt}`, `\p{Greek}`,
	`\PL`, `\p{^L}`, `\P{^Greek}`, `\p{Any}`, `\P{Any}`, `\p{^Any}`, `\p{Foo}`, `\p`, `\p{`, `\pZ`, `\pN`, `\p{Latin}`,
	`\p{Han}`, `\p{L`, `\pX`, `\p{Zs}`, `\p{Cc}`, `\p{C}`, `\p{Cs}`, `\p{Co}`, `\p{L&}`, `\p{}`, `\p{^}`, `\pC`,
	`\p{Common}`, `\p{Inherited}`, `\p{Nd}`, `\p{Cyrillic}`, `\p^L`, `\p{ L}`, `\p{l}`, `\p{greek}`, `\p{Lm}`, `\p{Lo}`,
	`\P{Lu}`, `\P{Ll}`,
	`\d`, `\D`, `\s`, `\S`, `\w`, `\W`, `\A`, `\z`, `\b`, `\B`,
}

var classItems = []string{
	"a", "z", "A", "Z", "0", "9", "_", "-", "^", "[", "é", "ß", "ſ", "k", "K", "\u212a", "σ", "Σ", "\n", "☺", " ", ".",
	"a-z", "A-Z", "0-9", "a-f", "z-a", "k-k", "K-k", "A-z", "α-ω", "Α-Ω", "\\x00-\\x{10FFFF}", "\\x41-\\x5a", "a-\\d", "\\d-z",
	"[:alpha:]", "[:^digit:]", "[:word:]", "[:space:]", "[:upper:]", "[:^lower:]", "[:punct:]", "[:foo:]", "[:alpha]",
	"[:xdigit:]", "[:^alnum:]", "[:ascii:]", "[:cntrl:]", "[:print:]", "[:graph:]", "[:blank:]", "[::]", "[:^:]",
	`\d`, `\D`, `\w`, `\W`, `\s`, `\S`, `\pL`, `\PL`, `\p{Greek}`, `\p{^Lu}`, `\p{Foo}`, `\n`, `\]`, `\-`, `\[`, `\\`,
	`\x{212A}`, `\.`, `\b`, `\z`, `\Q`, `\é`, `\0`, `-a`, "a-", `\x{2028}`, `\p{Any}`, `\P{Any}`,
}

func class() string {
	var b strings.Builder
	b.WriteString("[")
	if rng.Intn(3) == 0 {
		b.WriteString("^")
	}
	switch rng.Intn(8) {
	case 0:
		b.WriteString("]")
	case 1:
		b.WriteString("-")
	}
	for n := rng.Intn(4); n >= 0; n-- {
		b.WriteString(classItems[rng.Intn(len(classItems))])
	}
	if rng.Intn(6) == 0 {
		b.WriteString("-")
	}
	if rng.Intn(25) != 0 {
		b.WriteString("]")
	}
	return b.String()
}

var flagGroups = []string{
	"(?i)", "(?m)", "(?s)", "(?U)", "(?-i)", "(?i-s)", "(?ms)", "(?-)", "(?i-)", "(?x)", "(?ii)", "(?i-i)", "(?--i)",
	"(?)", "(?P)", "(?i", "(?-U)", "(?sm-iU)",
}

var groupOpeners = []string{
	"(", "(", "(", "(?:", "(?:", "(?i:", "(?s:", "(?m:", "(?U:", "(?i-s:", "(?-i:", "(?P<name>", "(?P<n1>", "(?P<a_b>",
	"(?P<>", "(?P<n!>", "(?P<é>", "(?P=name>", "(?P<name", "(?=", "(?!", "(?<=", "(?<!", "(?#", "(?P>", "(?:", "(?x:",
	"(?i-:", "(?:)", "(?<n>",
}

var repeats = []string{
	"*", "+", "?", "*?", "+?", "??", "{2}", "{0}", "{1}", "{0,}", "{1,}", "{2,}", "{0,1}", "{1,3}", "{2,3}?", "{0,2}?",
	"{3,2}", "{1001}", "{1000}", "{0,1000}", "{1000,}", "{01}", "{1,02}", "{,2}", "{", "{1", "{1,", "{a}", "{ 1}", "{1 }",
	"{-1}", "{99999999999}", "{2}{3}", "**", "*+", "+?+", "?*", "{2}*", "*{2}", "{}", "{,}", "{1,2}{3}", "*??",
	"{1000000000}", "{2147483648}", "{100000000}", "{1,1001}",
}

func atom(depth int) string {
	switch r := rng.Intn(20); {
	case r < 7:
		return literals[rng.Intn(len(literals))]
	case r < 10:
		return escapes[rng.Intn(len(escapes))]
	case r < 12:
		return pick(".", "^", "$", ".", "^", "$", "|", ")", "(", "[", "]", "{", "}", "\\")
	case r < 14:
		return class()
	case r < 15:
		return flagGroups[rng.Intn(len(flagGroups))]
	default:
		if depth > 3 {
			return literals[rng.Intn(len(literals))]
		}
		closer := ")"
		if rng.Intn(30) == 0 {
			closer = ""
		}
		return groupOpeners[rng.Intn(len(groupOpeners))] + expr(depth+1) + closer
	}
}

func piece(depth int) string {
	s := atom(depth)
	if rng.Intn(3) == 0 {
		s += repeats[rng.Intn(len(repeats))]
	}
	return s
}

func expr(depth int) string {
	var b strings.Builder
	n := rng.Intn(5)
	if depth == 0 {
		n++
	}
	for i := 0; i < n; i++ {
		b.WriteString(piece(depth))
		if rng.Intn(8) == 0 {
			b.WriteString("|")
		}
	}
	return b.String()
}

// Patterns at Go's limits, and a few that random generation rarely reaches.
func fixedPatterns() []string {
	out := []string{
		"", "|", "||", "()", "(|)", "a|", "|a", "(?:)", "(?i)", "x*y*z*", "(a*)*", "(a*)+", "(a|b)*?c", "(?:a{1000}){1000}",
		"(?:a{1000}){1001}", "(?:a{2}){501}", "(?:a{2}){500}", "((a{10}){10}){10}", "((a{10}){10}){11}", "\\pL{1000}",
		"(?:\\pL{1000}){2}", "[\\x{0}-\\x{10FFFF}]{1000}", "(?i)\\pL{1000}", "(?P<a>x)(?P<a>y)", "(?P<a>x)|(?P<b>y)",
		"(?i)k", "(?i)K", "(?i)\u212a", "(?i)s", "(?i)ſ", "(?i)ß", "(?i)[k]", "(?i)[^k]", "(?i)[a-z]", "(?i)[^a-z]",
		"(?i)\\W", "(?i)[\\W]", "(?i)[^\\W]", "(?i)\\S", "(?i)[[:^lower:]]", "(?i)[[:lower:]]", "(?i)\\P{Ll}",
		"(?i)\\p{Lu}", "(?i)\\p{Greek}", "(?i)σ", "(?i)[σ-σ]", "(?i)[^\\p{Lu}]", "(?i)\\pL", "(?i)[\\x{0}-\\x{10FFFF}]",
		"(?i)[^\\x{0}-\\x{10FFFF}]", "[^\\x{0}-\\x{10FFFF}]", "\\P{Any}", "(?s).", "(?s)[^a]", "[^a]", "[^\\n]", ".",
		"(?m)^$", "(?m)^a$", "(?m)$", "^$", "\\b", "\\B", "\\b\\B", "a\\b", "(?U)a+", "(?U)a+?", "(?U)(a+)(a*?)",
		"\\Q\\E*", "\\Q", "a\\Q", "\\Qa\\E+", "\\Qab\\E+", "x{2}{3}", "x**", "x++", "x*+", "a{,3}", "a{3", "a{3,",
		"(?i)(?-i)a", "(?i)a(?-i)a", "(?i:a)a", "a(?i)*", "(?i)*", "^*", "$*", "\\b*", "\\A*", "(?:)*", "()*", "(*)",
		"(|*)", "a|*", "[a-\\pL]", "[\\pL-z]", "[a-\\d]", "[[:alpha:]-z]", "[]", "[]a]", "[^]a]", "[a-]", "[-a]", "[^-a]",
		"[a--]", "[--a]", "[\\-]", "[\\d\\pL]", "[^\\d\\pL]", "[[:^digit:]]", "[\\p{^L}]", "[^\\P{L}]",
		"(?i)[^\\P{Lu}]", "(?i)[\\P{Lu}]", "(?i)\\P{Lu}", "(?i)[^[:upper:]]", "(?i)[[:^upper:]]", "\\8", "\\08", "\\0777",
		"(?P<name>a)(?P<name2>b)", "(?P<>a)", "(?P<1a>a)", "(?P<a1>a)", "(?<a>a)", "(?P<a>", "(?P<a", "(?P", "(?",
		"((((((((((a))))))))))", "\\x{10FFFF}", "\\x{110000}", "\\x{FFFFFFFFF}", "\\x{00000000000041}", "[\\x{110000}]",
		"(?i)ǅ", "(?i)ǆ", "(?i)İ", "(?i)ı", "(?i)i", "(?i)µ", "(?i)[µ]", "(?i)Ω", "(?i)ω", "(?i)\u2126", "(?i)[ω-ω]",
		"(a)|b", "(a)|(b)", "(a?)*", "(a*?)*", "(a|)+", "(|a)+", "(a*)*b", "(a+|b*)*", "((a)|b)+", "(a|ab)(c|bcd)(d*)",
		"(?:(a)|(b))+", "\\b|a", "(?:\\b)*a", "a*?$", "(?m)a$", "(?m)^", "(?s)a.b", "a.b", "a\\C", "[\\C]",
	}
	for _, n := range []int{998, 999, 1000, 1001} {
		out = append(out, strings.Repeat("(", n)+"a"+strings.Repeat(")", n))
		out = append(out, strings.Repeat("(?:", n)+"a"+strings.Repeat(")", n))
		out = append(out, strings.Repeat("(?:a", n)+strings.Repeat(")*", n))
		out = append(out, "a"+strings.Repeat("|a", n))
		out = append(out, strings.Repeat("a*", n))
		out = append(out, strings.Repeat("(?:a|", n)+"b"+strings.Repeat(")", n))
		out = append(out, strings.Repeat("(?:a+", n)+strings.Repeat(")", n))
		out = append(out, strings.Repeat("(?:x", n)+strings.Repeat(")?", n))
		out = append(out, strings.Repeat("(", n)+"a"+strings.Repeat(")", n-1))
		out = append(out, strings.Repeat("[", n))
		out = append(out, strings.Repeat("\\pL", n))
	}
	out = append(out, strings.Repeat("(?:\\pL{1000})", 3), strings.Repeat("(?:[\\x{0}-\\x{10FFFF}]{1000})", 20),
		strings.Repeat("(?:\\pL{1000}|", 40)+strings.Repeat(")", 40), "(?:(?:\\pL{1000}){1}){1}",
		strings.Repeat("(?:a{1000})", 300), strings.Repeat("(?:a{1000})", 3400), "(?:(?:(?:a{10}){10}){10}){10}",
		strings.Repeat("\\pL{1000}", 100), strings.Repeat("(?:.{1000})", 100), "((((a{100}){100}){100}){100})")
	return out
}

var inputPieces = []string{
	"a", "b", "c", "x", "y", "z", "A", "B", "K", "k", "s", "S", "_", "0", "1", "9", " ", "\n", "\r", "\t", "\u0085",
	"\u2028", "\u212a", "ſ", "ß", "ẞ", "σ", "Σ", "ς", "α", "Ω", "ω", "\u2126", "é", "É", "☺", "日", "İ", "ı", "i", "I",
	"µ", "Μ", "μ", "ǅ", "Ǆ", "ǆ", "\ufffd", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\x80",
	"\x80", "\x00", "\x07", "\x0b", "\x0c", "-", ".", "*", "]", "[", "{", "}", ",", "(", ")", "|", "\\", "$", "^",
	"𝔸", "\U0001e922", "\U0010ffff", "A", "\x7f",
}

func inputs(pattern string) []string {
	var patternRunes []string
	for _, r := range pattern {
		patternRunes = append(patternRunes, string(r))
	}
	out := []string{""}
	for n := 0; n < *inputsPerPattern; n++ {
		var b strings.Builder
		for k := rng.Intn(8); k >= 0; k-- {
			if len(patternRunes) > 0 && rng.Intn(2) == 0 {
				b.WriteString(patternRunes[rng.Intn(len(patternRunes))])
			} else {
				b.WriteString(inputPieces[rng.Intn(len(inputPieces))])
			}
		}
		out = append(out, b.String())
	}
	return out
}

func hx(s string) string {
	if s == "" {
		return "-"
	}
	return hex.EncodeToString([]byte(s))
}

func main() {
	count := flag.Int("n", 10000, "random patterns")
	seed := flag.Int64("seed", 1, "random seed")
	fixed := flag.Bool("fixed", true, "also emit the fixed corner-case patterns")
	flag.Parse()
	rng = rand.New(rand.NewSource(*seed))
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var patterns []string
	if *fixed {
		patterns = fixedPatterns()
	}
	for len(patterns) < *count {
		// Most random patterns are broken somewhere; keep only some of those so that matching gets tested too.
		p := expr(0)
		if _, err := regexp.Compile(p); err == nil || rng.Intn(4) == 0 {
			patterns = append(patterns, p)
		}
	}
	for _, p := range patterns {
		if !utf8.ValidString(p) {
			continue // a Swift String cannot hold it
		}
		re, err := regexp.Compile(p)
		if err != nil {
			code := "?"
			if se, ok := err.(*syntax.Error); ok {
				code = string(se.Code)
			}
			fmt.Fprintf(out, "P %s err %s\n", hx(p), hx(code))
			continue
		}
		names := make([]string, 0)
		for _, n := range re.SubexpNames()[1:] {
			names = append(names, hx(n))
		}
		nameField := strings.Join(names, ",")
		if nameField == "" {
			nameField = "-"
		}
		fmt.Fprintf(out, "P %s ok %d %s\n", hx(p), re.NumSubexp(), nameField)
		whole, err := regexp.Compile(`^(?:` + p + `)$`)
		if err != nil {
			// `\Q...` without `\E` swallows the `)$`: wrap the parsed tree instead.
			tree, _ := syntax.Parse(p, syntax.Perl)
			wrapped := &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{
				{Op: syntax.OpBeginText}, tree, {Op: syntax.OpEndText}}}
			if whole, err = regexp.Compile(wrapped.String()); err != nil {
				continue // at Go's depth limit: compile verdict only
			}
		}
		if len(p) > 2000 {
			continue // big patterns: compile verdict only
		}
		for _, in := range inputs(p) {
			w := 0
			if whole.MatchString(in) {
				w = 1
			}
			loc := re.FindStringSubmatchIndex(in)
			locField := "nil"
			if loc != nil {
				parts := make([]string, len(loc))
				for i, v := range loc {
					parts[i] = strconv.Itoa(v)
				}
				locField = strings.Join(parts, ",")
			}
			fmt.Fprintf(out, "I %s %d %s\n", hx(in), w, locField)
		}
	}
}
