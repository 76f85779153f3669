package broker
import ("testing";"unsafe")
func TestZZSizes(t *testing.T){
	t.Logf("Session %d subscription %d entry %d identity %d workQueue %d", unsafe.Sizeof(Session{}), unsafe.Sizeof(subscription{}), unsafe.Sizeof(entry{}), unsafe.Sizeof(identity{}), unsafe.Sizeof(workQueue{}))
}
