// A stream's free slots, handed out preferring the first `preferred` of them: the slots with usbfs memory (zero
// copy). What circulates in steady streaming (the transfers in flight, and those JavaScript holds between two
// wakes) then stays on usbfs memory, and the other slots, spares for a stalled JavaScript thread, go out only
// while JavaScript holds more than that. Within each kind, the slot freed last goes out first (a stack: its
// memory is the likeliest to be in cache). Capacity is reserved by Reset: Push never allocates.
#ifndef UVC_FREE_SLOTS_H_
#define UVC_FREE_SLOTS_H_

#include <vector>

namespace uvc {

class FreeSlots {
 public:
  // Every slot of `count` free, slot 0 to go out first; slots [0, preferred) before any other.
  void Reset(int count, int preferred) {
    preferred_ = preferred;
    first_.clear();
    others_.clear();
    first_.reserve(preferred);
    others_.reserve(count - preferred);
    for (int i = count - 1; i >= 0; i--) Push(i);
  }

  void Push(int slot) { (slot < preferred_ ? first_ : others_).push_back(slot); }

  // The slot to submit next. Not to be called when empty().
  int Pop() {
    std::vector<int>& from = first_.empty() ? others_ : first_;
    int slot = from.back();
    from.pop_back();
    return slot;
  }

  bool empty() const { return first_.empty() && others_.empty(); }
  int size() const { return static_cast<int>(first_.size() + others_.size()); }

 private:
  int preferred_ = 0;
  std::vector<int> first_;
  std::vector<int> others_;
};

}  // namespace uvc

#endif  // UVC_FREE_SLOTS_H_
