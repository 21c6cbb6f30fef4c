package flow

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Mapping is a compiled block of field mappings: a step's `with:` or a
// poll's `params:`. Values are literal unless they hold {{ expr }}.
type Mapping struct {
	root *vnode // always a map node; empty for an absent block
}

// Keys returns the mapped top-level keys in file order.
func (m *Mapping) Keys() []string {
	if m == nil || m.root == nil {
		return nil
	}
	return append([]string(nil), m.root.keys...)
}

// Has reports whether key is mapped at the top level.
func (m *Mapping) Has(key string) bool { return m.child(key) != nil }

// Pos returns where key is written in the file (zero if not mapped).
func (m *Mapping) Pos(key string) Position {
	if m == nil || m.root == nil {
		return Position{}
	}
	for i, k := range m.root.keys {
		if k == key {
			return m.root.keyPos[i]
		}
	}
	return Position{}
}

func (m *Mapping) child(key string) *vnode {
	if m == nil || m.root == nil {
		return nil
	}
	for i, k := range m.root.keys {
		if k == key {
			return m.root.vals[i]
		}
	}
	return nil
}

type vkind uint8

const (
	vLiteral  vkind = iota // a YAML scalar taken as is
	vExpr                  // "{{ expr }}": the expression's value, any type
	vTemplate              // text with {{ expr }} parts: always a string
	vMap
	vList
)

// vnode is one compiled value of a mapping.
type vnode struct {
	kind  vkind
	pos   Position
	lit   any
	expr  *compiled
	parts []tpart
	// map
	keys   []string
	keyPos []Position
	vals   []*vnode
	// list
	items []*vnode
}

type tpart struct {
	text string
	expr *compiled
}

// exprs calls f for every expression below v.
func (v *vnode) exprs(f func(*compiled)) {
	if v == nil {
		return
	}
	switch v.kind {
	case vExpr:
		f(v.expr)
	case vTemplate:
		for _, p := range v.parts {
			if p.expr != nil {
				f(p.expr)
			}
		}
	case vMap:
		for _, c := range v.vals {
			c.exprs(f)
		}
	case vList:
		for _, c := range v.items {
			c.exprs(f)
		}
	}
}

// isLiteral reports whether v (and everything below it) holds no expression.
func (v *vnode) isLiteral() bool {
	lit := true
	v.exprs(func(*compiled) { lit = false })
	return lit
}

// literalValue returns the plain Go value of a literal node.
func (v *vnode) literalValue() any {
	switch v.kind {
	case vMap:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			m[k] = v.vals[i].literalValue()
		}
		return m
	case vList:
		l := make([]any, len(v.items))
		for i, it := range v.items {
			l[i] = it.literalValue()
		}
		return l
	case vLiteral:
		return v.lit
	}
	return nil
}

// evalFail is an evaluation error with the place of the failing value.
type evalFail struct {
	pos Position
	err error
}

func (v *vnode) eval(env *exprEnv) (any, *evalFail) {
	switch v.kind {
	case vLiteral:
		return v.lit, nil
	case vExpr:
		out, err := v.expr.run(env)
		if err != nil {
			return nil, &evalFail{v.expr.pos, err}
		}
		return normalizeOut(out), nil
	case vTemplate:
		var b strings.Builder
		for _, p := range v.parts {
			if p.expr == nil {
				b.WriteString(p.text)
				continue
			}
			out, err := p.expr.run(env)
			if err != nil {
				return nil, &evalFail{p.expr.pos, err}
			}
			s, err := toString(normalizeOut(out))
			if err != nil {
				return nil, &evalFail{p.expr.pos, fmt.Errorf("expression %q inside text: %w (use {{ toJSON(...) }} to embed an object)", p.expr.src, err)}
			}
			b.WriteString(s)
		}
		return b.String(), nil
	case vMap:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			val, f := v.vals[i].eval(env)
			if f != nil {
				return nil, f
			}
			m[k] = val
		}
		return m, nil
	case vList:
		l := make([]any, 0, len(v.items))
		for _, it := range v.items {
			val, f := it.eval(env)
			if f != nil {
				return nil, f
			}
			l = append(l, val)
		}
		return l, nil
	}
	return nil, nil
}

// compileValue compiles a YAML value node into a vnode.
func (p *parser) compileValue(n *yaml.Node) *vnode {
	pos := p.pos(n)
	switch n.Kind {
	case yaml.MappingNode:
		if hint := unquotedExpr(n); hint != "" {
			p.errorf(n, "an expression must be quoted: write \"{{ %s }}\" (unquoted, YAML reads {{ }} as a nested mapping)", hint)
			return &vnode{kind: vLiteral, pos: pos}
		}
		v := &vnode{kind: vMap, pos: pos}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				p.errorf(k, "expected a text key, got %s", kindName(k))
				continue
			}
			v.keys = append(v.keys, k.Value)
			v.keyPos = append(v.keyPos, p.pos(k))
			v.vals = append(v.vals, p.compileValue(val))
		}
		return v
	case yaml.SequenceNode:
		v := &vnode{kind: vList, pos: pos}
		for _, it := range n.Content {
			v.items = append(v.items, p.compileValue(it))
		}
		return v
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" || n.ShortTag() == "!!timestamp" {
			return p.compileString(n.Value, n)
		}
		var lit any
		if err := n.Decode(&lit); err != nil {
			p.errorf(n, "cannot read value %q: %v", n.Value, err)
		}
		return &vnode{kind: vLiteral, pos: pos, lit: lit}
	}
	p.errorf(n, "unexpected %s", kindName(n))
	return &vnode{kind: vLiteral, pos: pos}
}

// unquotedExpr recognises `key: {{ expr }}` written without quotes, which
// YAML parses as a flow mapping holding a flow mapping, and returns the
// expression text to suggest.
func unquotedExpr(n *yaml.Node) string {
	if n.Style&yaml.FlowStyle == 0 || len(n.Content) != 2 {
		return ""
	}
	inner := n.Content[0]
	if inner.Kind != yaml.MappingNode || inner.Style&yaml.FlowStyle == 0 || len(inner.Content) != 2 {
		return ""
	}
	if inner.Content[0].Kind != yaml.ScalarNode {
		return "..."
	}
	return inner.Content[0].Value
}

// contentStart is where the text of a scalar begins in the file.
func (p *parser) contentStart(n *yaml.Node) (Position, bool) {
	pos := p.pos(n)
	switch {
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		pos.Column++
		return pos, n.Style&yaml.SingleQuotedStyle != 0 || !strings.Contains(n.Value, `\`)
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		pos.Line++
		return pos, false
	}
	return pos, true
}

// compileString splits s into literal text and {{ expr }} parts.
func (p *parser) compileString(s string, n *yaml.Node) *vnode {
	pos := p.pos(n)
	if !strings.Contains(s, "{{") {
		return &vnode{kind: vLiteral, pos: pos, lit: s}
	}
	start, exact := p.contentStart(n)
	at := func(off int) Position {
		if !exact || strings.Contains(s[:off], "\n") {
			return start
		}
		q := start
		q.Column += utf8.RuneCountInString(s[:off])
		return q
	}
	var parts []tpart
	rest, off := s, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				parts = append(parts, tpart{text: rest})
			}
			break
		}
		if i > 0 {
			parts = append(parts, tpart{text: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			p.errs = append(p.errs, &Error{Pos: at(off + i), Msg: "unclosed {{: expected }} to end the expression"})
			return &vnode{kind: vLiteral, pos: pos, lit: s}
		}
		src := rest[i+2 : i+2+j]
		// Position of the expression text itself, past "{{".
		c, err := compileExpr(strings.TrimSpace(src), at(off+i+2+leadingSpace(src)))
		if err != nil {
			p.errs = append(p.errs, err)
			return &vnode{kind: vLiteral, pos: pos, lit: s}
		}
		parts = append(parts, tpart{expr: c})
		adv := i + 2 + j + 2
		rest, off = rest[adv:], off+adv
	}
	// One expression and nothing but blanks around it keeps its type.
	var only *compiled
	exprCount := 0
	blank := true
	for _, pt := range parts {
		if pt.expr != nil {
			only = pt.expr
			exprCount++
		} else if strings.TrimSpace(pt.text) != "" {
			blank = false
		}
	}
	if exprCount == 1 && blank {
		return &vnode{kind: vExpr, pos: pos, expr: only}
	}
	return &vnode{kind: vTemplate, pos: pos, parts: parts}
}

func leadingSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t\r\n"))
}
