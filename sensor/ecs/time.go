package ecs

import (
	"encoding/binary"
	"math"
)

// Times (@timestamp, event.created, process.start) are Unix nanoseconds in
// the typed struct. The representable range is that of int64 nanoseconds:
// 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z. A time
// outside it is not a time to the decoder and stays in Fields as read.

const (
	secondsPerDay = 86400
	// unixToCivilDays is the number of days from 0000-03-01 to
	// 1970-01-01 in the proleptic Gregorian calendar.
	unixToCivilDays = 719468
)

// daysFromCivil returns the days since 1970-01-01 of y-m-d (proleptic
// Gregorian; Howard Hinnant's days_from_civil).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - unixToCivilDays
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += unixToCivilDays
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// AppendTime appends ns, Unix nanoseconds, as an RFC 3339 UTC time with the
// fraction's trailing zeros trimmed, as time.RFC3339Nano formats it (no
// quotes). It is the one time writer of macsensor's output: events
// (AppendJSON) and alerts (package detect) agree byte for byte. Every int64
// is a year between 1677 and 2262, so four digits always suffice.
func AppendTime(dst []byte, ns int64) []byte {
	sec := ns / 1e9
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
		sec--
	}
	days := sec / secondsPerDay
	sod := sec % secondsPerDay
	if sod < 0 {
		sod += secondsPerDay
		days--
	}
	y, m, d := civilFromDays(days)
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, sod/3600)
	dst = append(dst, ':')
	dst = append2(dst, sod/60%60)
	dst = append(dst, ':')
	dst = append2(dst, sod%60)
	if frac != 0 {
		var b [10]byte
		b[0] = '.'
		for i := 9; i >= 1; i-- {
			b[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 10
		for b[n-1] == '0' {
			n--
		}
		dst = append(dst, b[:n]...)
	}
	return append(dst, 'Z')
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func append4(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// digits parses exactly n ASCII digits at b[i:].
func digits(b []byte, i, n int) (int64, bool) {
	if i+n > len(b) {
		return 0, false
	}
	var v int64
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseTime parses the date forms Elasticsearch's default date format
// (strict_date_optional_time||epoch_millis) accepts for a date field:
//
//	yyyy, yyyy-MM, yyyy-MM-dd
//	yyyy-MM-ddTHH[:mm[:ss[.fraction]]] with an optional zone Z, ±HH, ±HHmm or ±HH:mm
//	epoch milliseconds: [-]digits[.up to 6 digits]
//
// A missing zone means UTC, as in Elasticsearch. 't', 'z' and a space for
// 'T' are also accepted (RFC 3339 section 5.6 allows them). It reports
// false when b is none of these or the time is outside the int64
// nanosecond range.
func parseTime(b []byte) (int64, bool) {
	var m minuteMemo
	return m.parseTime(b)
}

// parseTime is parseTime with m's memory of the last minute.
func (m *minuteMemo) parseTime(b []byte) (int64, bool) {
	if ns, ok := m.parse(b); ok {
		return ns, true
	}
	if ns, ok := parseISOGeneral(b); ok {
		return ns, true
	}
	return parseEpochMillis(b)
}

// parseISOGeneral parses the ISO 8601 forms parseTime takes, the
// canonical one (minuteMemo.parse, tried first) included, slowly.
func parseISOGeneral(b []byte) (int64, bool) {
	y, ok := digits(b, 0, 4)
	if !ok {
		return 0, false
	}
	var mo, d int64 = 1, 1
	i := 4
	if i < len(b) && b[i] == '-' {
		if mo, ok = digits(b, i+1, 2); !ok || mo < 1 || mo > 12 {
			return 0, false
		}
		i += 3
		if i < len(b) && b[i] == '-' {
			if d, ok = digits(b, i+1, 2); !ok || d < 1 || d > daysIn(y, mo) {
				return 0, false
			}
			i += 3
		} else if i != len(b) {
			return 0, false
		}
	} else if i != len(b) {
		return 0, false
	}
	var h, mi, s, frac, zone int64
	if i < len(b) {
		if i != len("yyyy-MM-dd") {
			return 0, false // a time needs a full date
		}
		if c := b[i]; c != 'T' && c != 't' && c != ' ' {
			return 0, false
		}
		if h, ok = digits(b, i+1, 2); !ok || h > 23 {
			return 0, false
		}
		i += 3
		if i < len(b) && b[i] == ':' {
			if mi, ok = digits(b, i+1, 2); !ok || mi > 59 {
				return 0, false
			}
			i += 3
			if i < len(b) && b[i] == ':' {
				if s, ok = digits(b, i+1, 2); !ok || s > 59 {
					return 0, false
				}
				i += 3
				if i < len(b) && b[i] == '.' {
					i++
					n := 0
					for i < len(b) && b[i] >= '0' && b[i] <= '9' {
						if n == 9 {
							return 0, false // finer than a nanosecond
						}
						frac = frac*10 + int64(b[i]-'0')
						n++
						i++
					}
					if n == 0 {
						return 0, false
					}
					for ; n < 9; n++ {
						frac *= 10
					}
				}
			}
		}
		if i < len(b) {
			switch b[i] {
			case 'Z', 'z':
				i++
			case '+', '-':
				zh, ok := digits(b, i+1, 2)
				if !ok || zh > 23 {
					return 0, false
				}
				var zm int64
				j := i + 3
				if j < len(b) && b[j] == ':' {
					j++
				}
				if j < len(b) {
					if zm, ok = digits(b, j, 2); !ok || zm > 59 {
						return 0, false
					}
					j += 2
				}
				zone = zh*3600 + zm*60
				if b[i] == '-' {
					zone = -zone
				}
				i = j
			default:
				return 0, false
			}
		}
		if i != len(b) {
			return 0, false
		}
	}
	sec := daysFromCivil(y, mo, d)*secondsPerDay + h*3600 + mi*60 + s - zone
	return fromSeconds(sec, frac)
}

// fromSeconds returns sec seconds and frac (0 ≤ frac < 1e9) nanoseconds
// since the epoch as int64 nanoseconds, reporting false on overflow.
func fromSeconds(sec, frac int64) (int64, bool) {
	const maxSec = math.MaxInt64 / 1_000_000_000 // 9223372036
	if sec > maxSec || sec < -maxSec-1 {
		return 0, false
	}
	if sec >= 0 {
		ns := sec * 1e9
		if ns > math.MaxInt64-frac {
			return 0, false
		}
		return ns + frac, true
	}
	// (sec+1)*1e9 cannot overflow; then step back by the remainder.
	ns := (sec + 1) * 1e9
	r := 1e9 - frac
	if ns < math.MinInt64+r {
		return 0, false
	}
	return ns - r, true
}

// minuteMemo parses canonical times, parseTime's fast path for the form
// AppendJSON and Elastic Defend write (yyyy-MM-ddTHH:mm:ss[.fraction]Z),
// remembering the minute of the last one: the times of a stream of events
// share their minute with the previous event's, and the date's arithmetic
// (the calendar's divisions) was most of a parse. A decoder has one.
type minuteMemo struct {
	w0, w1 uint64 // "yyyy-MM-" and "ddTHH:mm" as little-endian words
	sec    int64  // Unix seconds at the start of that minute
	ok     bool
}

// parse checks the first 19 bytes as three little-endian words (the
// digits and the separators at once); the first two, the minute, are
// checked and computed only when they differ from the remembered ones.
func (m *minuteMemo) parse(b []byte) (int64, bool) {
	n := len(b)
	if n < 20 || b[n-1] != 'Z' {
		return 0, false
	}
	_ = b[19]
	w0 := binary.LittleEndian.Uint64(b)      // yyyy-MM-
	w1 := binary.LittleEndian.Uint64(b[8:])  // ddTHH:mm
	w2 := binary.LittleEndian.Uint32(b[16:]) // :ss and one more byte
	if !m.ok || w0 != m.w0 || w1 != m.w1 {
		if !layoutWord(w0, date0) || !layoutWord(w1, date1) {
			return 0, false
		}
		y := int64(b[0]-'0')*1000 + int64(b[1]-'0')*100 + int64(b[2]-'0')*10 + int64(b[3]-'0')
		mo, d := int64(b[5]-'0')*10+int64(b[6]-'0'), int64(b[8]-'0')*10+int64(b[9]-'0')
		h, mi := int64(b[11]-'0')*10+int64(b[12]-'0'), int64(b[14]-'0')*10+int64(b[15]-'0')
		if mo < 1 || mo > 12 || d < 1 || (d > 28 && d > daysIn(y, mo)) || h > 23 || mi > 59 {
			return 0, false
		}
		*m = minuteMemo{w0: w0, w1: w1, sec: daysFromCivil(y, mo, d)*secondsPerDay + h*3600 + mi*60, ok: true}
	}
	if !layoutWord(uint64(w2), date2) {
		return 0, false
	}
	s := int64(b[17]-'0')*10 + int64(b[18]-'0')
	if s > 59 {
		return 0, false
	}
	var frac int64
	if n > 20 {
		f := b[19 : n-1]
		if f[0] != '.' || len(f) < 2 || len(f) > 10 {
			return 0, false
		}
		for _, c := range f[1:] {
			c -= '0'
			if c > 9 {
				return 0, false
			}
			frac = frac*10 + int64(c)
		}
		for k := len(f) - 1; k < 9; k++ {
			frac *= 10
		}
	}
	return fromSeconds(m.sec+s, frac)
}

// layout is the shape of up to eight bytes read as a little-endian word:
// which bytes are digits, and which must equal fixed bytes.
type layout struct {
	digits, fixed, want uint64
}

// The layouts of yyyy-MM-ddTHH:mm:ss, in three words (the third byte of
// the last is not checked).
var (
	date0 = newLayout("dddd-dd-")
	date1 = newLayout("ddTdd:dd")
	date2 = newLayout(":dd")
)

// newLayout makes the layout of pattern, where 'd' is a digit.
func newLayout(pattern string) layout {
	var l layout
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == 'd' {
			l.digits |= 0xff << (8 * i)
		} else {
			l.fixed |= 0xff << (8 * i)
			l.want |= uint64(pattern[i]) << (8 * i)
		}
	}
	return l
}

// layoutWord reports whether w has layout l. A byte c is a digit when both
// c and c+6 are 0x3_ in their high nibble; a carry out of a byte happens
// only for c ≥ 0xfa, which fails that byte's own check anyway.
func layoutWord(w uint64, l layout) bool {
	const hi, zeros, six = 0xf0f0f0f0f0f0f0f0, 0x3030303030303030, 0x0606060606060606
	return w&l.fixed == l.want && w&hi&l.digits == zeros&l.digits && (w+six)&hi&l.digits == zeros&l.digits
}

// parseEpochMillis parses [-]digits[.digits] milliseconds since the epoch,
// the fraction at most 6 digits (nanoseconds).
func parseEpochMillis(b []byte) (int64, bool) {
	neg := false
	i := 0
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	var ms uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		ms = ms*10 + uint64(b[i]-'0')
		if ms > math.MaxInt64/1_000_000+1 {
			return 0, false
		}
		i++
	}
	if i == start {
		return 0, false
	}
	var frac uint64
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if n == 6 {
				return 0, false
			}
			frac = frac*10 + uint64(b[i]-'0')
			n++
			i++
		}
		if n == 0 {
			return 0, false
		}
		for ; n < 6; n++ {
			frac *= 10
		}
	}
	if i != len(b) {
		return 0, false
	}
	u := ms*1e6 + frac
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}
