package broker

import (
	"fmt"
	"math/big"
	"testing"
)

// since.seq is read by its value, whatever notation the client's JSON
// library chose; only a whole number from 0 to 2^64-1 is one.
func TestWholeNumber(t *testing.T) {
	for raw, want := range map[string]uint64{
		"0": 0, "38": 38, "18446744073709551615": 1<<64 - 1,
		"1e3": 1000, "1E3": 1000, "1e+3": 1000, "1000.0": 1000, "10E2": 1000, "100000e-2": 1000,
		"12.50e1": 125, "0.0001e4": 1, "1844674407370955161.5e1": 1<<64 - 1, "1.8446744073709551615e19": 1<<64 - 1,
		"-0": 0, "0.0": 0, "0e999999": 0, "-0.0e-5": 0,
	} {
		if got, ok := wholeNumber([]byte(raw)); !ok || got != want {
			t.Errorf("%s: %d, %v; want %d", raw, got, ok, want)
		}
	}
	for _, raw := range []string{
		"-1", "1.5", "0.5", "5e-1", "25e-1", "1.0000000000000000000001", "-1e3",
		"18446744073709551616", "1e20", "2e19", "1.8446744073709551616e19", "1e999999",
		"1e-999999", "0e99999999999999999999", "1e-9223372036854775808", "1.5e-9223372036854775808",
		"1e9223372036854775807",
	} {
		if got, ok := wholeNumber([]byte(raw)); ok {
			t.Errorf("%s: read as %d", raw, got)
		}
	}
}

// A since that is no {"epoch":string,"seq":whole number} is a bad
// request that says what since is.
func TestSinceOfTheWrongShapeSaysWhatItIs(t *testing.T) {
	for _, since := range []string{`{"seq":1.5}`, `{"seq":"3"}`, `{"epoch":3}`, `[]`, `7`} {
		_, err := decodeCommand([]byte(`{"type":"subscribe","topic":"a","since":` + since + `}`))
		if err == nil || err.Code != CodeBadRequest || err.Message != "field since has the wrong type: it is "+sinceShape {
			t.Errorf("since %s: %v", since, err)
		}
	}
}

// reference is a command as encoding/json reads it, the reference of
// FuzzDecodeCommandMatchesEncodingJSON, except since.seq: the protocol
// reads a number by its value, as math/big judges it here.
type reference struct {
	command
	Since *referenceSince `json:"since"` // hides command's
}

type referenceSince struct {
	Epoch string       `json:"epoch"`
	Seq   referenceSeq `json:"seq"`
}

type referenceSeq uint64

func (s *referenceSeq) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // left as it is, as encoding/json leaves a uint64
	}
	r, ok := new(big.Rat).SetString(string(b))
	if !ok || !r.IsInt() || r.Sign() < 0 || !r.Num().IsUint64() {
		return fmt.Errorf("seq %.40s is no whole number that fits a uint64", b)
	}
	*s = referenceSeq(r.Num().Uint64())
	return nil
}
