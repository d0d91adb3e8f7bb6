package history

import (
	"reflect"
	"sync"
	"time"
)

// timeType is counted by its size alone: its *Location is shared by every
// time and is not the result's to hold.
var timeType = reflect.TypeFor[time.Time]()

// sizeOf estimates the bytes a value holds: its own size, and what its
// strings, slices, maps and pointers reach. It walks the value with
// reflection, so that fields added to prober.Result later are counted
// without anyone remembering to; a result is a tree (no cycles), and the
// walk is a few microseconds for the largest the prober makes.
func sizeOf(v any) int64 {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return 0
	}
	return int64(rv.Type().Size()) + reached(rv)
}

// reached is what v refers to beyond its own size.
func reached(v reflect.Value) int64 {
	if v.Type() == timeType {
		return 0
	}
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len())
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0
		}
		// An interface holds a pointer to (or a copy of) its value.
		e := v.Elem()
		return int64(e.Type().Size()) + reached(e)
	case reflect.Slice:
		if v.IsNil() {
			return 0
		}
		n := int64(v.Cap()) * int64(v.Type().Elem().Size())
		if layoutOf(v.Type().Elem()).refs {
			for i := range v.Len() {
				n += reached(v.Index(i))
			}
		}
		return n
	case reflect.Array:
		var n int64
		if layoutOf(v.Type().Elem()).refs {
			for i := range v.Len() {
				n += reached(v.Index(i))
			}
		}
		return n
	case reflect.Struct:
		var n int64
		for _, i := range layoutOf(v.Type()).refFields {
			n += reached(v.Field(i))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return 0
		}
		// Buckets cost about twice the keys and values they hold.
		t := v.Type()
		n := int64(v.Len()) * 2 * int64(t.Key().Size()+t.Elem().Size())
		it := v.MapRange()
		for it.Next() {
			n += reached(it.Key()) + reached(it.Value())
		}
		return n
	}
	return 0
}

// layout is what the walk needs to know of a type, worked out once: a
// result's walk visits the same few types hundreds of times, and asking
// reflection for every field of every struct each time was most of its cost.
type layout struct {
	refs      bool  // values may refer to more memory
	refFields []int // of a struct, the fields that may
}

var layouts sync.Map // reflect.Type to *layout

func layoutOf(t reflect.Type) *layout {
	if l, ok := layouts.Load(t); ok {
		return l.(*layout)
	}
	l := &layout{refs: hasReferences(t)}
	if t.Kind() == reflect.Struct && t != timeType {
		for i := range t.NumField() {
			if hasReferences(t.Field(i).Type) {
				l.refFields = append(l.refFields, i)
			}
		}
	}
	layouts.Store(t, l)
	return l
}

// hasReferences says whether values of t may refer to more memory, so that
// a slice of numbers is not walked element by element.
func hasReferences(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return true
	case reflect.Struct:
		if t == timeType {
			return false
		}
		for f := range t.Fields() {
			if hasReferences(f.Type) {
				return true
			}
		}
	case reflect.Array:
		return hasReferences(t.Elem())
	}
	return false
}
