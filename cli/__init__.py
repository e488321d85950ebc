"""The `comfyloom` command: each production process on its own (the API, the CPU and GPU workers), the
namespace's setup, and operator commands. It sits above what it starts; the library never imports it."""
