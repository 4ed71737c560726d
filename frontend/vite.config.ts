import { defineConfig } from 'vitest/config';

// No @vitejs/plugin-react: Oxc compiles JSX with React's automatic runtime, which is all a
// production build needs (Fast Refresh in `npm run dev` is the only thing given up).
// (Read through globalThis so the config type-checks without @types/node.)
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
const backend = env?.BACKEND_URL ?? 'http://127.0.0.1:8000';

export default defineConfig(({ command }) => ({
  // Django serves the built index.html for the app routes and the assets under /static/app/.
  // The dev server lives at the root so the app's routes (/, /workflows/<id>) work as they will.
  base: command === 'build' ? '/static/app/' : '/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: '../static/app',
    emptyOutDir: true,
    sourcemap: false,
    rolldownOptions: {
      onwarn(warning, warn) {
        // @xyflow/react starts with "use client" (for React Server Components); meaningless here
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
      output: {
        // libraries change less often than the app: separate files stay cached across releases
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
            { name: 'xyflow', test: /node_modules[\\/](@xyflow|d3-[a-z]+|classcat|zustand)[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': backend,
      '/login': backend,
      '/logout': backend,
      '/admin': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
}));
