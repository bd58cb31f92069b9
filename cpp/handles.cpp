/*
 * handles.cpp - slot table behind the validated handles (see handles.h).
 *
 * Layout of a handle value: bits 0-31 slot index + 1, bits 32-55 generation,
 * bits 56-63 kind. Freed slots are reused with the next generation, so an old
 * handle to a reused slot still fails the generation check.
 */
#include "handles.h"

#include <pthread.h>

#include <new>
#include <thread>

namespace uvs {

namespace {
constexpr uint32_t kGenerationMask = 0xFFFFFF;

uint64_t encode(uint32_t slot, uint32_t generation, Kind kind) {
  return (static_cast<uint64_t>(kind) << 56) |
         (static_cast<uint64_t>(generation & kGenerationMask) << 32) |
         (static_cast<uint64_t>(slot) + 1);
}

/* Bumped in each child of fork(2): handles added before belong to the
 * parent. */
std::atomic<uint32_t> process_epoch{0};
[[maybe_unused]] const int new_epoch_in_child =
    pthread_atfork(nullptr, nullptr, [] {
      process_epoch.fetch_add(1, std::memory_order_relaxed);
    });

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

bool Registry::decode(uint64_t handle, Kind kind, uint32_t *slot,
                      uint32_t *generation) {
  if (handle == 0 || static_cast<Kind>(handle >> 56) != kind)
    return false;
  uint32_t low = static_cast<uint32_t>(handle & 0xFFFFFFFFu);
  if (low == 0)
    return false;
  *slot = low - 1;
  *generation = static_cast<uint32_t>((handle >> 32) & kGenerationMask);
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
  uint32_t index, generation;
  if (!decode(handle, kind, &index, &generation))
    return nullptr;
  Slot *s = slot_at(index);
  if (!s)
    return nullptr;
  SlotLock lock(*s);
  if (!s->obj || s->kind != kind ||
      (s->generation & kGenerationMask) != generation)
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
  uint32_t index = 0;
  std::shared_ptr<void> obj;
  {
    Slot *s = lock_live(handle, kind);
    if (!s)
      return nullptr;
    SlotLock lock(*s, SlotLock::adopt);
    index = static_cast<uint32_t>(handle & 0xFFFFFFFFu) - 1;
    obj = std::move(s->obj);
    s->obj.reset();
    s->generation = (s->generation + 1) & kGenerationMask;
    if (s->generation == 0)
      s->generation = 1;
  }
  std::lock_guard<std::mutex> lock(alloc_mu_);
  free_.push_back(index);
  return obj; /* destroyed by the caller, outside every lock */
}

} // namespace uvs
