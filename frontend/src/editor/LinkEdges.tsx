// The two edge kinds. Flow edges: solid, with an arrow, labelled with their branch. Delegate
// edges: dashed violet, no arrow, a pulse travelling along while a task is out.

import {
  BaseEdge,
  EdgeLabelRenderer,
  getBezierPath,
  getSmoothStepPath,
  type ConnectionLineComponentProps,
  type EdgeProps,
} from '@xyflow/react';
import { memo } from 'react';
import { DEFAULT_SOURCE_HANDLE } from '../api/graph';
import type { LinkEdge } from '../graph/convert';
import { useCanvasInfo } from './canvasContext';

function EdgeLabel({ x, y, text, className }: { x: number; y: number; text: string; className: string }) {
  return (
    <EdgeLabelRenderer>
      <div className={`edge-label ${className}`} style={{ transform: `translate(-50%, -50%) translate(${x}px, ${y}px)` }}>
        {text}
      </div>
    </EdgeLabelRenderer>
  );
}

export const FlowEdge = memo(function FlowEdge(props: EdgeProps<LinkEdge>) {
  const info = useCanvasInfo();
  const [path, labelX, labelY] = getBezierPath(props);
  const issues = info.edgeIssues.get(props.id) ?? [];
  const state = info.run ? (info.edgeStates[props.id] ?? 'idle') : null;
  const branch = props.sourceHandleId && props.sourceHandleId !== DEFAULT_SOURCE_HANDLE ? props.sourceHandleId : null;
  const className = [
    'edge-flow',
    issues.length && !info.run ? 'edge-invalid' : '',
    state ? `edge-${state}` : '',
    props.selected ? 'edge-selected' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <>
      <BaseEdge id={props.id} path={path} markerEnd={props.markerEnd} className={className} interactionWidth={18} />
      {state === 'active' && (
        <circle r={4} className="edge-pulse">
          <animateMotion dur="1.1s" repeatCount="indefinite" path={path} />
        </circle>
      )}
      {issues.length > 0 && !info.run ? (
        <EdgeLabel x={labelX} y={labelY} className="edge-label-error" text={issues[0].message} />
      ) : branch ? (
        <EdgeLabel x={labelX} y={labelY} className={`edge-label-branch${branch === 'error' ? ' edge-label-errorbranch' : ''}`} text={branch} />
      ) : null}
    </>
  );
});

export const DelegateEdge = memo(function DelegateEdge(props: EdgeProps<LinkEdge>) {
  const info = useCanvasInfo();
  const [path, labelX, labelY] = getSmoothStepPath({ ...props, borderRadius: 12 });
  const issues = info.edgeIssues.get(props.id) ?? [];
  const state = info.run ? (info.edgeStates[props.id] ?? 'idle') : null;
  const className = [
    'edge-delegate',
    issues.length && !info.run ? 'edge-invalid' : '',
    state ? `edge-${state}` : '',
    props.selected ? 'edge-selected' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <>
      <BaseEdge id={props.id} path={path} className={className} interactionWidth={18} />
      {state === 'active' && (
        <>
          <circle r={5} className="delegate-pulse">
            <animateMotion dur="1.4s" repeatCount="indefinite" path={path} />
          </circle>
          <circle r={5} className="delegate-pulse">
            <animateMotion dur="1.4s" begin="0.7s" repeatCount="indefinite" path={path} />
          </circle>
        </>
      )}
      {issues.length > 0 && !info.run && <EdgeLabel x={labelX} y={labelY} className="edge-label-error" text={issues[0].message} />}
    </>
  );
});

/** The line drawn while connecting: red when the target under the pointer refuses it. */
export function ConnectionLine({ fromX, fromY, toX, toY, fromPosition, toPosition, connectionStatus, fromHandle }: ConnectionLineComponentProps) {
  const [path] = getBezierPath({ sourceX: fromX, sourceY: fromY, targetX: toX, targetY: toY, sourcePosition: fromPosition, targetPosition: toPosition });
  const delegate = fromHandle?.id === '@delegate';
  return (
    <g>
      <path
        d={path}
        fill="none"
        className={`connection-line${delegate ? ' connection-delegate' : ''}${connectionStatus === 'invalid' ? ' connection-invalid' : ''}${connectionStatus === 'valid' ? ' connection-valid' : ''}`}
      />
      <circle cx={toX} cy={toY} r={4} className={`connection-end${connectionStatus === 'invalid' ? ' connection-invalid' : ''}`} />
    </g>
  );
}
