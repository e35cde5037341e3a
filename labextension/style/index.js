import './base.css';
import './finetune.css';
