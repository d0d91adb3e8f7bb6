package alertgen

import (
	"fmt"
	"slices"
	"strings"
	"text/template/parse"
)

// Prometheus' alert templates and Grafana's share Go's text/template and most
// functions (printf, humanize, humanizeDuration, humanizeTimestamp...), but
// not all of them:
//   - $value is the sample value in Prometheus; in Grafana it is a string
//     describing every query's value, and the number of query B (the
//     reduced PromQL result) is $values.B.Value.
//   - Grafana has no `query` function: a {{ range/if/with }} block that runs
//     a query is replaced by a pointer to the dashboard (its else branch
//     says what an empty query result means, which Grafana cannot know).
// GrafanaTemplate rewrites a Prometheus annotation template accordingly.

// unsupportedInGrafana are Prometheus template functions Grafana does not
// have (they query Prometheus or read its query results).
var unsupportedInGrafana = []string{"query", "first", "label", "value", "sortByLabel", "strvalue"}

// promHeader declares what Prometheus declares before an alert template, so
// that the template parses; its nodes are dropped again.
const promHeader = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// instead is the text for a block Grafana cannot run.
const instead = "… (see dashboard_url)"

// GrafanaTemplate returns the Prometheus annotation template text rewritten
// for Grafana.
func GrafanaTemplate(text string) (string, error) {
	t := parse.New("annotation")
	t.Mode = parse.SkipFuncCheck | parse.ParseComments
	if _, err := t.Parse(promHeader+text, "", "", map[string]*parse.Tree{}); err != nil {
		return "", fmt.Errorf("template %q: %w", text, err)
	}
	nodes := t.Root.Nodes[4:]
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(rewrite(n).String())
	}
	return b.String(), nil
}

// rewrite returns the node for Grafana.
func rewrite(n parse.Node) parse.Node {
	switch n := n.(type) {
	case *parse.ActionNode:
		rewritePipe(n.Pipe)
	case *parse.IfNode:
		return rewriteBranch(&n.BranchNode, n)
	case *parse.RangeNode:
		return rewriteBranch(&n.BranchNode, n)
	case *parse.WithNode:
		return rewriteBranch(&n.BranchNode, n)
	case *parse.ListNode:
		rewriteList(n)
	}
	return n
}

func rewriteBranch(b *parse.BranchNode, n parse.Node) parse.Node {
	if usesUnsupported(b.Pipe) {
		return &parse.TextNode{NodeType: parse.NodeText, Text: []byte(instead)}
	}
	rewritePipe(b.Pipe)
	rewriteList(b.List)
	rewriteList(b.ElseList)
	return n
}

func rewriteList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for i, n := range l.Nodes {
		l.Nodes[i] = rewrite(n)
	}
}

func rewritePipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, c := range p.Cmds {
		for i, a := range c.Args {
			switch a := a.(type) {
			case *parse.VariableNode:
				if a.Ident[0] == "$value" {
					a.Ident = append([]string{"$values", "B", "Value"}, a.Ident[1:]...)
				}
			case *parse.PipeNode:
				rewritePipe(a)
			case *parse.ChainNode:
				if p, ok := a.Node.(*parse.PipeNode); ok {
					rewritePipe(p)
				}
			}
			c.Args[i] = a
		}
	}
}

// usesUnsupported says whether a pipeline calls a function Grafana lacks.
func usesUnsupported(p *parse.PipeNode) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			switch a := a.(type) {
			case *parse.IdentifierNode:
				if slices.Contains(unsupportedInGrafana, a.Ident) {
					return true
				}
			case *parse.PipeNode:
				if usesUnsupported(a) {
					return true
				}
			}
		}
	}
	return false
}

// UnsupportedFunctions returns the functions of a (rewritten) template
// that Grafana does not have.
func UnsupportedFunctions(text string) ([]string, error) {
	t := parse.New("annotation")
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse("{{$labels := .Labels}}{{$values := .Values}}{{$value := .Value}}"+text, "", "", map[string]*parse.Tree{}); err != nil {
		return nil, err
	}
	var found []string
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				for _, a := range c.Args {
					walk(a)
				}
			}
		case *parse.IdentifierNode:
			for _, f := range unsupportedInGrafana {
				if n.Ident == f {
					found = append(found, f)
				}
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			if n.ElseList != nil {
				walk(n.ElseList)
			}
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			if n.ElseList != nil {
				walk(n.ElseList)
			}
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			if n.ElseList != nil {
				walk(n.ElseList)
			}
		}
	}
	walk(t.Root)
	return found, nil
}
