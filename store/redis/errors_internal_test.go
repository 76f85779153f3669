package redis

import "testing"

func TestReplyCodeReadsScriptErrorsOfEveryRedis(t *testing.T) {
	cases := map[string]string{
		"OOM command not allowed when used memory > 'maxmemory'.":                                                                 "OOM",
		"READONLY You can't write against a read only replica. script: e684, on @user_script:12.":                                 "READONLY",
		"ERR Error running script (call to f_e684): @user_script:12: @user_script: 12: -OOM command not allowed when used memory": "OOM",
		"ERR wrong number of arguments":        "ERR",
		"BUSY Redis is busy running a script.": "BUSY",
	}
	for msg, want := range cases {
		if got := replyCode(msg); got != want {
			t.Errorf("replyCode(%q) = %q, want %q", msg, got, want)
		}
	}
}
