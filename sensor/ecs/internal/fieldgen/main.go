// Command fieldgen writes sensor/ecs/fields_gen.go from the `ecs` struct
// tags of ecs.Event: the presence bits, the typed slots, their path lookup
// (slotOf), their byte order (slotOrder) and the trie of path segments the
// decoder walks (child). It is run by `go generate` in sensor/ecs; its test
// fails when the committed file is stale.
//
// The declaration: every field of Event (and of the structs it holds) that
// has an `ecs:"segment[,option...]"` tag is part of the typed struct, at
// the dotted path of the segments from Event down to it. A field of struct
// type is a field set; a field of type string, []string, int64 or bool is
// a typed field. Options: "time" (an int64 holding Unix nanoseconds,
// written as RFC 3339) and "has=Name" (the presence bit is HasName; by
// default it is Has followed by the Go field names from Event down, as in
// HasSourcePort). int64 and bool fields get a presence bit, in
// declaration order; strings are absent when "", string slices when nil.
// Fields without the tag are not typed fields.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Output is the file generate writes, relative to the package directory.
const Output = "fields_gen.go"

func main() {
	src, err := generate(".")
	if err == nil {
		err = os.WriteFile(Output, src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fieldgen:", err)
		os.Exit(1)
	}
}

// kind is how a typed field is stored; the names are ecs's slotKind
// constants.
type kind string

const (
	kString  kind = "slotString"
	kStrings kind = "slotStrings"
	kInt     kind = "slotInt"
	kBool    kind = "slotBool"
	kTime    kind = "slotTime"
)

// field is one typed field.
type field struct {
	path   string   // dotted ECS path
	goPath []string // Go field names from Event down
	types  []string // the struct type holding each of goPath
	kind   kind
	has    string // presence constant, or ""
}

// ident returns the slot constant's name: s followed by the Go path.
func (f *field) ident() string { return "s" + strings.Join(f.goPath, "") }

// generate reads the package in dir and returns the content of Output.
func generate(dir string) ([]byte, error) {
	structs, err := parseStructs(dir)
	if err != nil {
		return nil, err
	}
	if structs["Event"] == nil {
		return nil, errors.New("no struct type Event in " + dir)
	}
	var fields []field
	if err := collect(structs, "Event", "", nil, nil, map[string]bool{}, &fields); err != nil {
		return nil, err
	}
	if err := check(fields); err != nil {
		return nil, err
	}
	return render(fields)
}

// parseStructs returns the struct types declared in the package's
// non-test, non-generated files.
func parseStructs(dir string) (map[string]*ast.StructType, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	structs := map[string]*ast.StructType{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, "_gen.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				ts := s.(*ast.TypeSpec)
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[ts.Name.Name] = st
				}
			}
		}
	}
	return structs, nil
}

// collect appends the typed fields of struct typ, at ECS path prefix and
// Go path goPath, to out. open guards against a struct holding itself.
func collect(structs map[string]*ast.StructType, typ, prefix string, goPath, types []string, open map[string]bool, out *[]field) error {
	if open[typ] {
		return fmt.Errorf("struct %s holds itself", typ)
	}
	open[typ] = true
	defer delete(open, typ)
	for _, fl := range structs[typ].Fields.List {
		if fl.Tag == nil {
			continue
		}
		tagText, err := strconv.Unquote(fl.Tag.Value)
		if err != nil {
			return err
		}
		tag, ok := reflect.StructTag(tagText).Lookup("ecs")
		if !ok {
			continue
		}
		if len(fl.Names) != 1 {
			return fmt.Errorf("%s: an ecs tag needs exactly one field name", typ)
		}
		name := fl.Names[0].Name
		opts := strings.Split(tag, ",")
		seg := opts[0]
		if seg == "" || strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".") || strings.Contains(seg, "..") || strings.ContainsAny(seg, "\"\\ ") {
			return fmt.Errorf("%s.%s: bad ecs path segment %q", typ, name, seg)
		}
		path := seg
		if prefix != "" {
			path = prefix + "." + seg
		}
		gp := append(slices.Clip(goPath), name)
		tp := append(slices.Clip(types), typ)
		f := field{path: path, goPath: gp, types: tp}
		isTime := false
		for _, o := range opts[1:] {
			switch {
			case o == "time":
				isTime = true
			case strings.HasPrefix(o, "has="):
				f.has = "Has" + strings.TrimPrefix(o, "has=")
			default:
				return fmt.Errorf("%s.%s: unknown ecs tag option %q", typ, name, o)
			}
		}
		switch t := fl.Type.(type) {
		case *ast.Ident:
			switch t.Name {
			case "string":
				f.kind = kString
			case "int64":
				f.kind = kInt
				if isTime {
					f.kind = kTime
				}
			case "bool":
				f.kind = kBool
			default:
				if structs[t.Name] == nil {
					return fmt.Errorf("%s.%s: type %s is not a struct of the package nor string, []string, int64 or bool", typ, name, t.Name)
				}
				if isTime || f.has != "" {
					return fmt.Errorf("%s.%s: options on a field set", typ, name)
				}
				if err := collect(structs, t.Name, path, gp, tp, open, out); err != nil {
					return err
				}
				continue
			}
		case *ast.ArrayType:
			if el, ok := t.Elt.(*ast.Ident); !ok || el.Name != "string" || t.Len != nil {
				return fmt.Errorf("%s.%s: the only slice type is []string", typ, name)
			}
			f.kind = kStrings
		default:
			return fmt.Errorf("%s.%s: unsupported field type", typ, name)
		}
		if isTime && f.kind != kTime {
			return fmt.Errorf("%s.%s: option time needs int64", typ, name)
		}
		switch f.kind {
		case kInt, kTime, kBool:
			if f.has == "" {
				f.has = "Has" + strings.Join(gp, "")
			}
		default:
			if f.has != "" {
				return fmt.Errorf("%s.%s: has= on a field without a presence bit", typ, name)
			}
		}
		*out = append(*out, f)
	}
	return nil
}

// check rejects what the ecs package cannot hold: a path twice, a path
// that is also a prefix of another, more than 64 presence bits, more
// slots or trie nodes than an int8 holds (the decoder's tables).
func check(fields []field) error {
	paths := map[string]bool{}
	has := map[string]bool{}
	idents := map[string]bool{}
	nbits := 0
	for _, f := range fields {
		if paths[f.path] {
			return fmt.Errorf("path %s declared twice", f.path)
		}
		paths[f.path] = true
		if idents[f.ident()] {
			return fmt.Errorf("slot name %s twice", f.ident())
		}
		idents[f.ident()] = true
		if f.has != "" {
			if has[f.has] {
				return fmt.Errorf("presence bit %s twice", f.has)
			}
			has[f.has] = true
			nbits++
		}
	}
	for p := range paths {
		for i := range p {
			if p[i] == '.' && paths[p[:i]] {
				return fmt.Errorf("path %s is both a field and a prefix of %s", p[:i], p)
			}
		}
	}
	if nbits > 64 {
		return fmt.Errorf("%d presence bits; Presence holds 64", nbits)
	}
	if len(fields) > 127 {
		return fmt.Errorf("%d typed fields; the decoder's tables hold 127", len(fields))
	}
	return nil
}

// node is one proper prefix of typed paths: a node of the decoder's trie.
type node struct {
	prefix string
	ident  string
	edges  []edge
}

type edge struct {
	seg         string
	node, field int // one is -1
}

// trie returns the trie of the typed paths' segments; node 0 is the root.
func trie(fields []field) ([]*node, error) {
	nodes := []*node{{ident: "nRoot"}}
	byPrefix := map[string]int{"": 0}
	idents := map[string]bool{"nRoot": true}
	for id, f := range fields {
		segs := strings.Split(f.path, ".")
		cur, prefix := 0, ""
		for j, seg := range segs {
			full := seg
			if prefix != "" {
				full = prefix + "." + seg
			}
			if j == len(segs)-1 {
				nodes[cur].edges = append(nodes[cur].edges, edge{seg: seg, node: -1, field: id})
				break
			}
			n, ok := byPrefix[full]
			if !ok {
				n = len(nodes)
				byPrefix[full] = n
				nd := &node{prefix: full, ident: "n" + camel(full)}
				if idents[nd.ident] {
					return nil, fmt.Errorf("trie node name %s twice", nd.ident)
				}
				idents[nd.ident] = true
				nodes = append(nodes, nd)
				nodes[cur].edges = append(nodes[cur].edges, edge{seg: seg, node: n, field: -1})
			}
			cur, prefix = n, full
		}
	}
	if len(nodes) > 127 {
		return nil, fmt.Errorf("%d trie nodes; the decoder's tables hold 127", len(nodes))
	}
	return nodes, nil
}

// camel turns host.os or process.code_signature into HostOs or
// ProcessCodeSignature.
func camel(path string) string {
	var b strings.Builder
	up := true
	for _, r := range path {
		switch {
		case r == '.' || r == '_' || r == '@' || r == '-':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func render(fields []field) ([]byte, error) {
	nodes, err := trie(fields)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("// Code generated by go run ./internal/fieldgen; DO NOT EDIT.\n")
	p("// The source is the ecs tags of Event (event.go); see internal/fieldgen.\n\n")
	p("package ecs\n\nimport \"unsafe\"\n\n")

	p("// The presence bits, one per numeric or boolean typed field.\nconst (\n")
	first := true
	for _, f := range fields {
		if f.has == "" {
			continue
		}
		if first {
			p("%s Presence = 1 << iota // %s\n", f.has, f.path)
			first = false
		} else {
			p("%s // %s\n", f.has, f.path)
		}
	}
	p(")\n\n")

	p("// The slot ids, in the order of the slots table.\nconst (\n")
	for i, f := range fields {
		if i == 0 {
			p("%s = iota\n", f.ident())
		} else {
			p("%s\n", f.ident())
		}
	}
	p("nSlots\n)\n\n")

	p("// slots describes every typed field.\nvar slots = [nSlots]slot{\n")
	for _, f := range fields {
		var offs []string
		for j, name := range f.goPath {
			offs = append(offs, fmt.Sprintf("unsafe.Offsetof(%s{}.%s)", f.types[j], name))
		}
		bit := "0"
		if f.has != "" {
			bit = f.has
		}
		p("%s: {path: %q, kind: %s, bit: %s, off: %s},\n", f.ident(), f.path, f.kind, bit, strings.Join(offs, "+"))
	}
	p("}\n\n")

	order := make([]int, len(fields))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, c int) int { return strings.Compare(fields[a].path, fields[c].path) })
	p("// slotOrder lists the slot ids sorted by path (byte order, the order of\n")
	p("// Fields), so that the encoder can merge typed fields and Fields in one pass.\n")
	p("var slotOrder = [nSlots]uint8{\n")
	for _, id := range order {
		p("%s,\n", fields[id].ident())
	}
	p("}\n\n")

	p("// slotOf returns the slot id of a dotted path, or -1. The switch neither\n")
	p("// allocates nor hashes: the compiler turns it into a binary search over\n")
	p("// the constant cases.\nfunc slotOf(path string) int {\nswitch path {\n")
	for _, f := range fields {
		p("case %q:\nreturn %s\n", f.path, f.ident())
	}
	p("}\nreturn -1\n}\n\n")

	p("// The trie nodes: the proper prefixes of typed paths (see child).\nconst (\n")
	for i, n := range nodes {
		comment := ""
		if n.prefix != "" {
			comment = " // " + n.prefix
		}
		if i == 0 {
			p("%s = iota%s\n", n.ident, comment)
		} else {
			p("%s%s\n", n.ident, comment)
		}
	}
	p("nNodes\n)\n\n")

	p("// child returns the trie node (or -1) and the typed slot (or -1) reached\n")
	p("// from node by one path segment.\nfunc child(node int, seg []byte) (int, int) {\nswitch node {\n")
	for _, n := range nodes {
		p("case %s:\nswitch string(seg) {\n", n.ident)
		for _, e := range n.edges {
			if e.node >= 0 {
				p("case %q:\nreturn %s, -1\n", e.seg, nodes[e.node].ident)
			} else {
				p("case %q:\nreturn -1, %s\n", e.seg, fields[e.field].ident())
			}
		}
		p("}\n")
	}
	p("}\nreturn -1, -1\n}\n")

	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the output: %w\n%s", err, b.Bytes())
	}
	return out, nil
}
