package detect

import (
	"github.com/macsensor/macsensor/detect/eql"
)

// querySpec is a compiled query: an event query (event) or a sequence.
// cats lists the event categories its stages (and until) select; anyCat is
// set when one of them is `any where`.
type querySpec struct {
	event  matchFunc
	seq    *seqSpec
	cats   []string
	anyCat bool
}

func (q *querySpec) addCategory(c string) {
	if c == "" {
		q.anyCat = true
		return
	}
	for _, have := range q.cats {
		if have == c {
			return
		}
	}
	q.cats = append(q.cats, c)
}

// compileQuery compiles a parsed query for the engine. Pipes are not run
// here: a detection rule alerts on every match.
func compileQuery(q *eql.Query) (querySpec, error) {
	if q.Event != nil {
		m, err := eql.Compile(q.Event)
		if err != nil {
			return querySpec{}, err
		}
		qs := querySpec{event: m}
		qs.addCategory(q.Event.Category)
		return qs, nil
	}
	s := q.Sequence
	spec := &seqSpec{maxSpan: int64(s.MaxSpan)}
	qs := querySpec{seq: spec}
	for i := range s.Stages {
		st := &s.Stages[i]
		qs.addCategory(st.Query.Category)
		m, err := eql.Compile(&st.Query)
		if err != nil {
			return querySpec{}, err
		}
		k, err := compileKey(s.By, st.By)
		if err != nil {
			return querySpec{}, err
		}
		for r := 0; r < max(st.Runs, 1); r++ {
			spec.stages = append(spec.stages, stageSpec{match: m, key: k, cat: st.Query.Category})
		}
	}
	if u := s.Until; u != nil {
		qs.addCategory(u.Query.Category)
		m, err := eql.Compile(&u.Query)
		if err != nil {
			return querySpec{}, err
		}
		k, err := compileKey(s.By, u.By)
		if err != nil {
			return querySpec{}, err
		}
		spec.until = &stageSpec{match: m, key: k, cat: u.Query.Category}
	}
	return qs, nil
}

// compileKey compiles a stage's join key: the sequence's by fields, then
// the stage's. No fields is the empty key (nil).
func compileKey(seqBy, stageBy []*eql.Field) (keyFunc, error) {
	if len(seqBy)+len(stageBy) == 0 {
		return nil, nil
	}
	fields := make([]*eql.Field, 0, len(seqBy)+len(stageBy))
	fields = append(fields, seqBy...)
	fields = append(fields, stageBy...)
	k, err := eql.CompileKey(fields)
	if err != nil {
		return nil, err
	}
	return k, nil
}
