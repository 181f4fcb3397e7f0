import { defineConfig } from "vite";

// Built into ../static, which the Python package ships (pyproject package-data).
export default defineConfig({
  base: "/",
  build: {
    outDir: "../static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
});
