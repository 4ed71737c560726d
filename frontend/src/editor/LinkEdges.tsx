// The two edge kinds. Flow edges: solid, with an arrow, labelled with their branch. Delegate
// edges: dashed violet, no arrow, a pulse travelling along while a task is out.

import {
  BaseEdge,
  EdgeLabelRenderer,
  getBezierPath,
  getSmoothStepPath,
  useStore,
  type ConnectionLineComponentProps,
  type EdgeProps,
} from '@xyflow/react';
import { memo } from 'react';
import { DEFAULT_SOURCE_HANDLE, type Issue } from '../api/graph';
import type { LinkEdge } from '../graph/convert';
import { useEdgeRun } from '../run/liveStore';
import { lowDetailSelector, useCanvasInfo } from './canvasContext';

function EdgeLabel({ x, y, text, className }: { x: number; y: number; text: string; className: string }) {
  return (
    <EdgeLabelRenderer>
      <div className={`edge-label ${className}`} style={{ transform: `translate(-50%, -50%) translate(${x}px, ${y}px)` }}>
        {text}
      </div>
    </EdgeLabelRenderer>
  );
}

// The arrowheads, one marker per colour, defined once by the canvas (<EdgeMarkers />). React Flow
// would make them from each edge object's `markerEnd`, which put the run state into the edge
// objects: every status event made new objects for all edges and React Flow re-processed them all.
const MARKER_COLOUR = {
  idle: '#b1b1b7', // React Flow's default marker colour
  active: '#2563eb',
  done: '#47cd89',
  'not-taken': '#d0d5dd',
  invalid: '#d92d20',
} as const;
type MarkerState = keyof typeof MARKER_COLOUR;

function markerUrl(state: MarkerState): string {
  return `url(#flow-arrow-${state})`;
}

export function EdgeMarkers() {
  return (
    <svg className="edge-markers" aria-hidden="true">
      <defs>
        {(Object.keys(MARKER_COLOUR) as MarkerState[]).map((state) => (
          <marker
            key={state}
            id={`flow-arrow-${state}`}
            className="react-flow__arrowhead"
            markerWidth="18"
            markerHeight="18"
            viewBox="-10 -10 20 20"
            markerUnits="strokeWidth"
            orient="auto-start-reverse"
            refX="0"
            refY="0"
          >
            <polyline
              className="arrowclosed"
              style={{ stroke: MARKER_COLOUR[state], fill: MARKER_COLOUR[state], strokeWidth: 1 }}
              strokeLinecap="round"
              strokeLinejoin="round"
              points="-5,-4 0,0 -5,4 -5,-4"
            />
          </marker>
        ))}
      </defs>
    </svg>
  );
}

const NO_ISSUES: Issue[] = [];

export const FlowEdge = memo(function FlowEdge(props: EdgeProps<LinkEdge>) {
  const info = useCanvasInfo();
  // this edge's own run state: other edges' changes do not re-render it
  const state = useEdgeRun(info.run, props.id);
  const low = useStore(lowDetailSelector);
  const [path, labelX, labelY] = getBezierPath(props);
  const issues = info.run ? NO_ISSUES : (info.edgeIssues.get(props.id) ?? NO_ISSUES);
  const branch = props.sourceHandleId && props.sourceHandleId !== DEFAULT_SOURCE_HANDLE ? props.sourceHandleId : null;
  const className = [
    'edge-flow',
    issues.length ? 'edge-invalid' : '',
    state ? `edge-${state}` : '',
    props.selected ? 'edge-selected' : '',
  ]
    .filter(Boolean)
    .join(' ');
  // zoomed far out an arrowhead is a few pixels wide: not drawing 2,000 of them keeps panning smooth
  const marker = low ? undefined : markerUrl(state ?? (issues.length ? 'invalid' : 'idle'));
  return (
    <>
      {/* the wide invisible path that makes an edge easy to click is one more element per edge:
          zoomed far out there is nothing to aim at anyway */}
      <BaseEdge id={props.id} path={path} markerEnd={marker} className={className} interactionWidth={low ? 0 : 18} />
      {state === 'active' && (
        <circle r={4} className="edge-pulse">
          <animateMotion dur="1.1s" repeatCount="indefinite" path={path} />
        </circle>
      )}
      {low ? null : issues.length > 0 ? (
        <EdgeLabel x={labelX} y={labelY} className="edge-label-error" text={issues[0].message} />
      ) : branch ? (
        <EdgeLabel x={labelX} y={labelY} className={`edge-label-branch${branch === 'error' ? ' edge-label-errorbranch' : ''}`} text={branch} />
      ) : null}
    </>
  );
});

export const DelegateEdge = memo(function DelegateEdge(props: EdgeProps<LinkEdge>) {
  const info = useCanvasInfo();
  const state = useEdgeRun(info.run, props.id);
  const low = useStore(lowDetailSelector);
  const [path, labelX, labelY] = getSmoothStepPath({ ...props, borderRadius: 12 });
  const issues = info.run ? NO_ISSUES : (info.edgeIssues.get(props.id) ?? NO_ISSUES);
  const className = [
    'edge-delegate',
    issues.length ? 'edge-invalid' : '',
    state ? `edge-${state}` : '',
    props.selected ? 'edge-selected' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <>
      <BaseEdge id={props.id} path={path} className={className} interactionWidth={low ? 0 : 18} />
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
      {issues.length > 0 && !low && <EdgeLabel x={labelX} y={labelY} className="edge-label-error" text={issues[0].message} />}
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
