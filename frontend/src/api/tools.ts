// A workspace's agent tools: MCP servers (its own by URL, the operator's local commands), HTTP
// tools, and the catalogue a worker's tool picker offers (api: editor/tools_api.py).

import { request } from './client';

export interface ToolInfo {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
  /** how a worker's tools setting names it: mcp:<server>/<tool> */
  ref: string;
  /** why it cannot be called (an invalid input schema), or null */
  problem: string | null;
}

export interface McpServer {
  name: string;
  /** workspace: added here by URL; operator: a local command the server's operator declared */
  source: 'workspace' | 'operator';
  transport: 'http' | 'stdio';
  url: string;
  credential: string;
  tools: ToolInfo[];
  tools_error: string;
  refreshed_at: string | null;
}

export interface HttpTool {
  name: string;
  ref: string;
  description: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  parameters: Record<string, unknown>;
  body: string;
  credential: string;
  timeout: number;
}

export interface HttpToolInput {
  name: string;
  url: string;
  description?: string;
  method?: HttpTool['method'];
  headers?: Record<string, string>;
  parameters?: Record<string, unknown>;
  body?: string;
  credential?: string;
  timeout?: number;
}

export interface CatalogueEntry {
  ref: string;
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
  workflow?: string;
}

export interface ToolCatalogue {
  builtin: CatalogueEntry[];
  mcp_servers: McpServer[];
  http_tools: HttpTool[];
  workflows: CatalogueEntry[];
}

const ws = (workspaceId: number) => `/api/workspaces/${workspaceId}`;
const name = (value: string) => encodeURIComponent(value);

export function toolCatalogue(workspaceId: number): Promise<ToolCatalogue> {
  return request<ToolCatalogue>(`${ws(workspaceId)}/tools/`);
}

export function listServers(workspaceId: number): Promise<McpServer[]> {
  return request<McpServer[]>(`${ws(workspaceId)}/mcp-servers/`);
}

export function addServer(workspaceId: number, input: { name: string; url: string; credential?: string }): Promise<McpServer> {
  return request<McpServer>(`${ws(workspaceId)}/mcp-servers/`, { method: 'POST', body: input });
}

export function refreshServer(workspaceId: number, server: string): Promise<McpServer> {
  return request<McpServer>(`${ws(workspaceId)}/mcp-servers/${name(server)}/refresh/`, { method: 'POST' });
}

export function deleteServer(workspaceId: number, server: string): Promise<void> {
  return request<void>(`${ws(workspaceId)}/mcp-servers/${name(server)}/`, { method: 'DELETE' });
}

export function listHttpTools(workspaceId: number): Promise<HttpTool[]> {
  return request<HttpTool[]>(`${ws(workspaceId)}/http-tools/`);
}

export function addHttpTool(workspaceId: number, input: HttpToolInput): Promise<HttpTool> {
  return request<HttpTool>(`${ws(workspaceId)}/http-tools/`, { method: 'POST', body: input });
}

export function deleteHttpTool(workspaceId: number, tool: string): Promise<void> {
  return request<void>(`${ws(workspaceId)}/http-tools/${name(tool)}/`, { method: 'DELETE' });
}
