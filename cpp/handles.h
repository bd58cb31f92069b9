/*
 * handles.h - the registry that turns engine objects into validated handles.
 *
 * A public handle (uvs_stream *, uvs_op *, ...) is never a pointer to the
 * object: it encodes (kind, generation, slot) in a pointer-sized integer.
 * Looking a handle up checks all three under the slot's own spinlock and
 * returns a shared_ptr, so a NULL, freed (stale), closed or wrong-type handle
 * yields an error instead of a use-after-free, and an object stays alive for
 * the whole call even if another thread frees its handle meanwhile.
 *
 * Handles to objects that own threads or sockets of a process (engines,
 * queues, operations, streams, servers) belong to the process that made
 * them: fork(2) copies the table but none of the engine's threads, so in a
 * child such a handle fails the lookup and inherited() tells the caller to
 * report UVS_EFORKED, once for all bindings. The owner is a process epoch
 * bumped by an atfork handler (no getpid() on the hot path). Options and
 * TLS configurations are plain data and keep working in a child.
 *
 * Lookups are the hottest path of the C API (several per request), so they
 * take no global lock: slots live in fixed chunks that never move once
 * published, and each slot has a one-byte spinlock held for a few
 * instructions. Only add/remove share a mutex, for the free list.
 *
 * A freed handle never comes back to life: a slot's generation has 35 bits
 * and a slot whose generation would wrap is retired, never reused.
 *
 * fork(2): the free list's mutex is held across a fork, so the child gets
 * a consistent copy, and the child releases every slot spinlock a thread
 * of the parent held (that thread is not in the child).
 */
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace uvs {

enum class Kind : uint8_t {
  Options = 1,
  Engine = 2,
  Cq = 3,
  Op = 4,
  Stream = 5,
  Server = 6,
  TlsConfig = 7
};

class Registry {
public:
  static Registry &instance();

  /* Stores obj and returns its new handle value (never 0). */
  uint64_t add(Kind kind, std::shared_ptr<void> obj);
  /* The object for handle if it is live and of this kind, else null. */
  std::shared_ptr<void> find(uint64_t handle, Kind kind);
  /* The same, typed: one reference taken, no temporary shared_ptr (C++17's
   * static_pointer_cast copies, which costs two more atomic operations). */
  template <class T> std::shared_ptr<T> find_as(uint64_t handle, Kind kind) {
    std::shared_ptr<T> out;
    if (Slot *s = lock_live(handle, kind)) {
      out = std::shared_ptr<T>(s->obj, static_cast<T *>(s->obj.get()));
      s->busy.store(false, std::memory_order_release);
    }
    return out;
  }
  /* True if handle is live and of this kind but was made by the process
   * this one was forked from (find and remove then return null). */
  bool inherited(uint64_t handle, Kind kind);
  /* Removes the handle (its generation changes) and returns the object. */
  std::shared_ptr<void> remove(uint64_t handle, Kind kind);

private:
  struct Slot {
    std::atomic<bool> busy{false}; /* spinlock over the fields below */
    uint64_t generation = 1;
    Kind kind = Kind::Options;
    uint32_t process = 0; /* epoch of the process that added obj */
    std::shared_ptr<void> obj;
  };
  static constexpr uint32_t kChunkBits = 12; /* 4096 slots a chunk */
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 4096; /* 16 M live handles */
  class SlotLock;

  Registry();
  static bool decode(uint64_t handle, Kind kind, uint32_t *slot,
                     uint64_t *generation);
  /* fork(2) handlers (see above). */
  void before_fork();
  void after_fork_in_parent();
  void after_fork_in_child();
  /* The handle's slot with its spinlock held if it is live and of this
   * kind; else null, unlocked. */
  Slot *lock_live(uint64_t handle, Kind kind);
  /* The same test, owner process aside (the caller checks it). */
  Slot *lock_matching(uint64_t handle, Kind kind);
  Slot *slot_at(uint32_t index) const;

  std::atomic<Slot *> chunks_[kMaxChunks] = {};
  std::mutex alloc_mu_; /* add/remove: free list, chunk creation */
  std::vector<std::unique_ptr<Slot[]>> owned_chunks_;
  uint32_t next_unused_ = 0;
  std::vector<uint32_t> free_;
};

template <class T> std::shared_ptr<T> lookup(const void *handle, Kind kind) {
  return Registry::instance().find_as<T>(
      static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle)), kind);
}

template <class T>
std::shared_ptr<T> unregister(const void *handle, Kind kind) {
  return std::static_pointer_cast<T>(Registry::instance().remove(
      static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle)), kind));
}

template <class H> H *to_handle(uint64_t value) {
  return reinterpret_cast<H *>(static_cast<uintptr_t>(value));
}

} // namespace uvs
