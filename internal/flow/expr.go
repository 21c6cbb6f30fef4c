package flow

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// EnvVarPrefix is the prefix of the process environment variables a flow
// may read as env.<NAME>. Nothing else of the environment is visible, so a
// flow can never read (and leak) a token or a database password.
const EnvVarPrefix = "GHLSYNC_FLOW_"

// exprEnv is the typed environment expressions are compiled against and run
// with. Compiling against it turns unknown names ("evnt.x") and unknown
// fields ("connection.locaton") into load-time errors.
type exprEnv struct {
	Event      map[string]any `expr:"event"`
	Meta       metaEnv        `expr:"meta"`
	Steps      map[string]any `expr:"steps"`
	Connection connectionEnv  `expr:"connection"`
	Env        map[string]any `expr:"env"` // any, so a missing variable is nil and ?? works
	Now        time.Time      `expr:"now"`
	// Mapped is mapped(key): the GoHighLevel id a keyed step stored for
	// key in this connection's location, or nil.
	Mapped func(key any) any `expr:"mapped"`
}

type metaEnv struct {
	ID         string    `expr:"id"`
	Type       string    `expr:"type"`
	Source     string    `expr:"source"`
	Flow       string    `expr:"flow"`
	ReceivedAt time.Time `expr:"received_at"`
	OccurredAt time.Time `expr:"occurred_at"`
}

type connectionEnv struct {
	Name        string `expr:"name"`
	LocationID  string `expr:"locationId"`
	CompanyID   string `expr:"companyId"`
	Timezone    string `expr:"timezone"`
	PhoneRegion string `expr:"phoneRegion"`
}

// Top-level names an expression may use.
var envNames = []string{"event", "meta", "steps", "connection", "env", "now", "mapped"}

// compiled is one expression compiled at load time.
type compiled struct {
	src  string
	prog *vm.Program
	pos  Position // where the expression text starts in the file
	refs exprRefs
}

// exprRefs records which parts of the environment an expression reads.
type exprRefs struct {
	names map[string]bool // top-level identifiers
	steps []nameRef       // steps.<id>
	env   []nameRef       // env.<NAME>
}

type nameRef struct {
	name string
	col  int // 0-based column in the expression source (first line)
	line int // 1-based line in the expression source
}

// nilSafe makes every member access optional, as if written a?.b: mapping
// code reads JSON that often lacks a key, and a missing key must evaluate
// to nil (and be left out of the request) rather than fail the run.
type nilSafe struct{}

func (nilSafe) Visit(n *ast.Node) {
	if m, ok := (*n).(*ast.MemberNode); ok && !m.Optional {
		m.Optional = true
		c := &ast.ChainNode{Node: m}
		c.SetLocation(m.Location())
		c.SetType(m.Type())
		ast.Patch(n, c)
	}
}

// phoneRegion gives phone(v) and validPhone(v), called without a region,
// the connection's region as second argument.
type phoneRegion struct{}

func (phoneRegion) Visit(n *ast.Node) {
	c, ok := (*n).(*ast.CallNode)
	if !ok || len(c.Arguments) != 1 {
		return
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok || (id.Value != "phone" && id.Value != "validPhone") {
		return
	}
	region := &ast.MemberNode{Node: &ast.IdentifierNode{Value: "connection"}, Property: &ast.StringNode{Value: "phoneRegion"}}
	region.SetLocation(c.Location())
	region.Node.SetLocation(c.Location())
	region.Property.SetLocation(c.Location())
	c.Arguments = append(c.Arguments, region)
	// The first type check chose the one-argument signature for the callee;
	// the compiler reads it, so it must match the new argument list.
	if id.Value == "phone" {
		c.Callee.SetType(reflect.TypeOf(func(any, string) any { return nil }))
	} else {
		c.Callee.SetType(reflect.TypeOf(func(any, string) bool { return false }))
	}
}

type refCollector struct{ refs *exprRefs }

func (r refCollector) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		r.refs.names[x.Value] = true
	case *ast.MemberNode:
		id, ok := x.Node.(*ast.IdentifierNode)
		if !ok {
			return
		}
		prop, ok := x.Property.(*ast.StringNode)
		if !ok {
			return
		}
		loc := x.Property.Location()
		ref := nameRef{name: prop.Value, col: loc.From, line: 1}
		switch id.Value {
		case "steps":
			r.refs.steps = append(r.refs.steps, ref)
		case "env":
			r.refs.env = append(r.refs.env, ref)
		}
	}
}

// maxExprLen bounds one expression; mapping expressions are short.
const maxExprLen = 4096

func exprOptions() []expr.Option {
	opts := []expr.Option{
		expr.Env(exprEnv{}),
		expr.Patch(nilSafe{}),
		expr.Patch(phoneRegion{}),
		expr.MaxNodes(2000),
		// "now" is a variable (the run's clock), not the builtin function.
		expr.DisableBuiltin("now"),
		// repeat("x", 1e9) would allocate without bound.
		expr.DisableBuiltin("repeat"),
	}
	for _, h := range helpers {
		opts = append(opts, expr.DisableBuiltin(h.name))
		opts = append(opts, expr.Function(h.name, h.fn, h.types...))
	}
	return opts
}

var compileOptions = exprOptions()

// compileExpr compiles src (whose text starts at pos in the file). Errors
// carry the position of the offending token where it can be mapped.
func compileExpr(src string, pos Position) (c *compiled, err *Error) {
	if len(src) > maxExprLen {
		return nil, &Error{Pos: pos, Msg: fmt.Sprintf("expression is %d bytes long; the limit is %d", len(src), maxExprLen)}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Pos: pos, Msg: "empty expression"}
	}
	defer func() {
		// The expression compiler is third-party code fed user input; a
		// panic there must become an error, never crash the loader.
		if r := recover(); r != nil {
			c, err = nil, &Error{Pos: pos, Msg: fmt.Sprintf("expression %q: cannot compile: %v", src, r)}
		}
	}()
	prog, cerr := expr.Compile(src, compileOptions...)
	if cerr != nil {
		return nil, exprError(src, pos, cerr)
	}
	refs := exprRefs{names: map[string]bool{}}
	node := prog.Node()
	ast.Walk(&node, refCollector{&refs})
	// Column of refs: convert rune offsets to line/column in src.
	for _, list := range []*[]nameRef{&refs.steps, &refs.env} {
		for i := range *list {
			(*list)[i].line, (*list)[i].col = lineCol(src, (*list)[i].col)
		}
	}
	return &compiled{src: src, prog: prog, pos: pos, refs: refs}, nil
}

// lineCol turns a rune offset into a 1-based line and 0-based column.
func lineCol(src string, off int) (line, col int) {
	line = 1
	i := 0
	for _, r := range src {
		if i == off {
			break
		}
		if r == '\n' {
			line++
			col = 0
		} else {
			col++
		}
		i++
	}
	return line, col
}

// at maps a place inside the expression source to the file.
func (c *compiled) at(line, col int) Position { return offsetPos(c.pos, line, col) }

func offsetPos(start Position, line, col int) Position {
	p := start
	if line <= 1 {
		p.Column += col
		return p
	}
	p.Line += line - 1
	p.Column = col + 1
	return p
}

var (
	unknownNameRe  = regexp.MustCompile(`^unknown name (\S+)$`)
	unknownFieldRe = regexp.MustCompile(`^type flow\.(connection|meta)Env has no field (\S+)$`)
)

// knownNames are the names an expression can start with, for suggestions.
func knownNames() []string {
	names := slices.Clone(envNames)
	for _, h := range helpers {
		names = append(names, h.name)
	}
	for _, b := range builtin.Builtins {
		if b.Name != "now" && b.Name != "repeat" && !slices.Contains(names, b.Name) {
			names = append(names, b.Name)
		}
	}
	return names
}

func structFields(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := 0; i < t.NumField(); i++ {
		out = append(out, t.Field(i).Tag.Get("expr"))
	}
	return out
}

// friendlier rewrites the expression compiler's messages in the terms of a
// flow file, with suggestions.
func friendlier(msg string) string {
	if m := unknownNameRe.FindStringSubmatch(msg); m != nil {
		if s := suggestion(m[1], knownNames(), false); s != "" {
			return "unknown name " + m[1] + s
		}
		return fmt.Sprintf("unknown name %s (expressions read %s, and call helpers such as phone, default, join)", m[1], strings.Join(envNames, ", "))
	}
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		var fields []string
		if m[1] == "connection" {
			fields = structFields(connectionEnv{})
		} else {
			fields = structFields(metaEnv{})
		}
		return fmt.Sprintf("%s has no field %s%s", m[1], m[2], suggestion(m[2], fields, true))
	}
	return msg
}

func exprError(src string, pos Position, err error) *Error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &Error{Pos: offsetPos(pos, fe.Line, fe.Column), Msg: fmt.Sprintf("expression %q: %s", src, friendlier(fe.Message))}
	}
	return &Error{Pos: pos, Msg: fmt.Sprintf("expression %q: %v", src, err)}
}

// resultKind is the static type the checker found for the expression, or
// Interface when it is only known at run time.
func (c *compiled) resultKind() reflect.Kind {
	n := c.prog.Node()
	if n == nil || n.Type() == nil {
		return reflect.Interface
	}
	return n.Type().Kind()
}

// run evaluates the expression, turning a panic in a helper into an error.
func (c *compiled) run(env *exprEnv) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			if le, ok := r.(*LookupError); ok {
				v, err = nil, fmt.Errorf("expression %q: %w", c.src, le)
				return
			}
			v, err = nil, fmt.Errorf("expression %q: %v", c.src, r)
		}
	}()
	out, err := expr.Run(c.prog, env)
	if err != nil {
		var le *LookupError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("expression %q: %w", c.src, le)
		}
		var fe *file.Error
		if errors.As(err, &fe) {
			msg := fe.Message
			if fe.Prev != nil && !strings.Contains(msg, fe.Prev.Error()) {
				msg += ": " + fe.Prev.Error()
			}
			return nil, fmt.Errorf("expression %q: %s", c.src, msg)
		}
		return nil, fmt.Errorf("expression %q: %w", c.src, err)
	}
	return out, nil
}
