// The workspace's own MCP endpoint: its URL and the workflows it serves as tools
// (api: editor/mcp_api.py; the endpoint itself: orchestrator/mcp_endpoint.py).

import { request } from './client';

export interface ServedTool {
  name: string;
  workflow_id: string;
  workflow_name: string;
  description: string;
  input_schema: Record<string, unknown>;
  exposed: boolean;
  problem: string | null;
}

export interface McpEndpoint {
  url: string;
  auth: string;
  tools: ServedTool[];
}

const base = (workspaceId: number) => `/api/workspaces/${workspaceId}/mcp/`;

export function getMcpEndpoint(workspaceId: number): Promise<McpEndpoint> {
  return request<McpEndpoint>(base(workspaceId));
}

export function setServed(workspaceId: number, workflowId: string, exposed: boolean): Promise<ServedTool> {
  return request<ServedTool>(`${base(workspaceId)}workflows/${encodeURIComponent(workflowId)}/`, { method: 'PUT', body: { exposed } });
}
