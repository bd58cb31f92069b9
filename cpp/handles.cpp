/*
 * handles.cpp - slot table behind the validated handles (see handles.h).
 *
 * Layout of a handle value: bits 0-31 slot index + 1, bits 32-55 generation,
 * bits 56-63 kind. Freed slots are reused with the next generation, so an old
 * handle to a reused slot still fails the generation check.
 */
#include "handles.h"

#include <mutex>

namespace uvs {

namespace {
constexpr uint32_t kGenerationMask = 0xFFFFFF;

uint64_t encode(uint32_t slot, uint32_t generation, Kind kind) {
  return (static_cast<uint64_t>(kind) << 56) |
         (static_cast<uint64_t>(generation & kGenerationMask) << 32) |
         (static_cast<uint64_t>(slot) + 1);
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

uint64_t Registry::add(Kind kind, std::shared_ptr<void> obj) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot &s = slots_[index];
  s.kind = kind;
  s.obj = std::move(obj);
  return encode(index, s.generation, kind);
}

std::shared_ptr<void> Registry::find(uint64_t handle, Kind kind) {
  uint32_t index, generation;
  if (!decode(handle, kind, &index, &generation))
    return nullptr;
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (index >= slots_.size())
    return nullptr;
  const Slot &s = slots_[index];
  if (!s.obj || s.kind != kind ||
      (s.generation & kGenerationMask) != generation)
    return nullptr;
  return s.obj;
}

std::shared_ptr<void> Registry::remove(uint64_t handle, Kind kind) {
  uint32_t index, generation;
  if (!decode(handle, kind, &index, &generation))
    return nullptr;
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (index >= slots_.size())
    return nullptr;
  Slot &s = slots_[index];
  if (!s.obj || s.kind != kind ||
      (s.generation & kGenerationMask) != generation)
    return nullptr;
  std::shared_ptr<void> obj = std::move(s.obj);
  s.obj.reset();
  s.generation = (s.generation + 1) & kGenerationMask;
  if (s.generation == 0)
    s.generation = 1;
  free_.push_back(index);
  lock.unlock();
  return obj;
}

} // namespace uvs
