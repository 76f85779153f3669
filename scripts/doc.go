// Package scripts holds no Go code: its tests check the shell scripts
// beside them (cluster.sh) by running them.
package scripts
