/*
 * handles.cpp - slot table behind the validated handles (see handles.h).
 *
 * Layout of a handle value: bits 0-24 slot index + 1, bits 25-59
 * generation, bits 60-63 kind. Freed slots are reused with the next
 * generation, so an old handle to a reused slot still fails the generation
 * check; a slot is retired when its generation is used up (after 2^35 - 1
 * handles), so no handle value is ever given out twice.
 */
#include "handles.h"

#include <pthread.h>

#include <new>
#include <thread>

namespace uvs {

namespace {
constexpr int kSlotBits = 25; /* holds index + 1 for 2^24 slots */
constexpr int kKindShift = 60;
constexpr uint64_t kGenerationMask =
    (uint64_t(1) << (kKindShift - kSlotBits)) - 1;

uint64_t encode(uint32_t slot, uint64_t generation, Kind kind) {
  return (static_cast<uint64_t>(kind) << kKindShift) |
         (generation << kSlotBits) | (static_cast<uint64_t>(slot) + 1);
}

/* Bumped in each child of fork(2) (after_fork_in_child): handles added
 * before belong to the parent. */
std::atomic<uint32_t> process_epoch{0};

bool bound_to_process(Kind kind) {
  return kind != Kind::Options && kind != Kind::TlsConfig;
}

bool made_elsewhere(uint32_t process, Kind kind) {
  return bound_to_process(kind) &&
         process != process_epoch.load(std::memory_order_relaxed);
}
} // namespace

Registry &Registry::instance() {
  /* Never destroyed: handles may be used from atexit handlers and threads. */
  static Registry *registry = new Registry();
  return *registry;
}

Registry::Registry() {
  pthread_atfork([] { instance().before_fork(); },
                 [] { instance().after_fork_in_parent(); },
                 [] { instance().after_fork_in_child(); });
}

void Registry::before_fork() {
  alloc_mu_.lock();
}

void Registry::after_fork_in_parent() {
  alloc_mu_.unlock();
}

void Registry::after_fork_in_child() {
  /* The only thread now: a held spinlock belonged to a thread that is not
   * here, in the middle of a lookup, or of an add or a remove whose slot is
   * not on the free list (the child does not reuse it). */
  for (uint32_t i = 0; i < next_unused_; ++i)
    slot_at(i)->busy.store(false, std::memory_order_relaxed);
  process_epoch.fetch_add(1, std::memory_order_relaxed);
  alloc_mu_.unlock();
}

bool Registry::decode(uint64_t handle, Kind kind, uint32_t *slot,
                      uint64_t *generation) {
  if (handle == 0 || static_cast<Kind>(handle >> kKindShift) != kind)
    return false;
  uint32_t low =
      static_cast<uint32_t>(handle & ((uint64_t(1) << kSlotBits) - 1));
  if (low == 0)
    return false;
  *slot = low - 1;
  *generation = (handle >> kSlotBits) & kGenerationMask;
  return true;
}

/* The slot's spinlock: held for a handful of instructions, contended only
 * when threads use the same handle at the same moment. */
class Registry::SlotLock {
public:
  static constexpr struct Adopt {
  } adopt{};
  /* Takes over a slot already locked (by lock_live). */
  SlotLock(Slot &s, Adopt) : s_(s) {}
  explicit SlotLock(Slot &s) : s_(s) {
    while (s_.busy.exchange(true, std::memory_order_acquire))
      while (s_.busy.load(std::memory_order_relaxed))
        std::this_thread::yield();
  }
  ~SlotLock() {
    if (!kept_)
      s_.busy.store(false, std::memory_order_release);
  }
  /* Leaves the slot locked for the caller. */
  void keep() { kept_ = true; }
  SlotLock(const SlotLock &) = delete;
  SlotLock &operator=(const SlotLock &) = delete;

private:
  Slot &s_;
  bool kept_ = false;
};

Registry::Slot *Registry::slot_at(uint32_t index) const {
  if ((index >> kChunkBits) >= kMaxChunks)
    return nullptr;
  Slot *chunk = chunks_[index >> kChunkBits].load(std::memory_order_acquire);
  return chunk ? &chunk[index & (kChunkSize - 1)] : nullptr;
}

uint64_t Registry::add(Kind kind, std::shared_ptr<void> obj) {
  uint32_t index;
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = next_unused_;
      if ((index >> kChunkBits) >= kMaxChunks)
        throw std::bad_alloc(); /* guarded() reports UVS_ENOMEM */
      if ((index & (kChunkSize - 1)) == 0) {
        owned_chunks_.push_back(std::make_unique<Slot[]>(kChunkSize));
        chunks_[index >> kChunkBits].store(owned_chunks_.back().get(),
                                           std::memory_order_release);
      }
      ++next_unused_;
    }
  }
  Slot &s = *slot_at(index);
  SlotLock lock(s);
  s.kind = kind;
  s.process = process_epoch.load(std::memory_order_relaxed);
  s.obj = std::move(obj);
  return encode(index, s.generation, kind);
}

Registry::Slot *Registry::lock_matching(uint64_t handle, Kind kind) {
  uint32_t index;
  uint64_t generation;
  if (!decode(handle, kind, &index, &generation))
    return nullptr;
  Slot *s = slot_at(index);
  if (!s)
    return nullptr;
  SlotLock lock(*s);
  if (!s->obj || s->kind != kind || s->generation != generation)
    return nullptr;
  lock.keep(); /* the caller unlocks */
  return s;
}

Registry::Slot *Registry::lock_live(uint64_t handle, Kind kind) {
  Slot *s = lock_matching(handle, kind);
  if (s && made_elsewhere(s->process, kind)) {
    s->busy.store(false, std::memory_order_release);
    return nullptr;
  }
  return s;
}

bool Registry::inherited(uint64_t handle, Kind kind) {
  Slot *s = lock_matching(handle, kind);
  if (!s)
    return false;
  bool elsewhere = made_elsewhere(s->process, kind);
  s->busy.store(false, std::memory_order_release);
  return elsewhere;
}

std::shared_ptr<void> Registry::find(uint64_t handle, Kind kind) {
  return find_as<void>(handle, kind);
}

std::shared_ptr<void> Registry::remove(uint64_t handle, Kind kind) {
  Slot *s = lock_live(handle, kind);
  if (!s)
    return nullptr;
  uint32_t index;
  uint64_t generation;
  decode(handle, kind, &index, &generation);
  std::shared_ptr<void> obj;
  bool used_up;
  {
    SlotLock lock(*s, SlotLock::adopt);
    obj = std::move(s->obj);
    s->obj.reset();
    used_up = ++s->generation > kGenerationMask;
  }
  if (used_up)
    return obj; /* retired: never reused */
  std::lock_guard<std::mutex> lock(alloc_mu_);
  free_.push_back(index);
  return obj; /* destroyed by the caller, outside every lock */
}

} // namespace uvs
